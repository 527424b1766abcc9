"""Text Encode with ``embedding:name``: the node's result, its cache key, its error."""

from __future__ import annotations

import os

import torch
from safetensors.torch import save_file

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions


def _graph(registry, checkpoint, text: str) -> Graph:
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1",
          values={"checkpoint": str(checkpoint)})
    g.add("conditioning.text_encode", registry=registry, node_id="2", values={"text": text})
    g.connect("1", "clip", "2", "clip")
    return g


def test_text_encode_uses_the_embedding_and_reruns_when_its_file_changes(
    registry, tiny_checkpoint, tmp_path, monkeypatch
):
    from pipelines.loading.checkpoint import load_checkpoint

    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "models.toml"))
    (tmp_path / "embeddings").mkdir()
    path = tmp_path / "embeddings" / "cat.safetensors"
    _, clip, _ = load_checkpoint(tiny_checkpoint)
    ids = clip.tokenizer("cat", add_special_tokens=False).input_ids
    save_file({"emb_params": clip.text_encoder.get_input_embeddings().weight[ids].detach()},
              str(path))

    executor = Executor(registry)
    options = RunOptions(output_dir=tmp_path)
    graph = _graph(registry, tiny_checkpoint, "a (embedding:cat:1.2) on a mat")
    first = executor.run(graph, targets=["2"], options=options)
    assert first.status == "ok", first.error
    expected = executor.run(_graph(registry, tiny_checkpoint, "a (cat:1.2) on a mat"),
                            targets=["2"], options=options).outputs["2"][0]
    assert torch.equal(first.outputs["2"][0].embeds, expected.embeds)

    again = executor.run(graph, targets=["2"], options=options)
    assert "2" in again.cached

    save_file({"emb_params": torch.randn(3, 32)}, str(path))
    stat = path.stat()  # make sure the mtime moves even on a coarse-clock file system
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    changed = executor.run(graph, targets=["2"], options=options)
    assert "2" in changed.executed
    assert not torch.allclose(changed.outputs["2"][0].embeds, expected.embeds)


def test_a_missing_embedding_fails_the_node_with_a_clear_message(
    registry, tiny_checkpoint, tmp_path, monkeypatch
):
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "models.toml"))
    result = Executor(registry).run(_graph(registry, tiny_checkpoint, "embedding:bad_hands"),
                                    targets=["2"], options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed"
    assert "Embedding 'bad_hands' not found in the embeddings folders" in result.error
    assert str(tmp_path / "embeddings") in result.error
