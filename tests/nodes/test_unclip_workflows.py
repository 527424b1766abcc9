"""The shipped DALL-E 2 workflows (Kandinsky 2.2 prior + decoder, image variations) run through
the real nodes on tiny random Kandinsky folders; the prior + decoder image equals the diffusers
pipelines' to 8-bit rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow
from node_api.context import RunOptions

WORKFLOWS = Path(__file__).resolve().parents[2] / "resources" / "workflows"
SIZE = 64


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path, Path]:
    from pipelines.testing.tiny_kandinsky import tiny_decoder_path, tiny_prior_path
    from pipelines.testing.tiny_karlo import tiny_karlo_path

    root = tmp_path_factory.mktemp("unclip-nodes")
    return tiny_prior_path(root), tiny_decoder_path(root), tiny_karlo_path(root)


def _graph(name: str, registry, folders, steps: int = 3):
    graph = open_workflow(WORKFLOWS / name, registry)
    prior, decoder = folders[:2]
    for node in graph.nodes.values():
        if node.type == "loaders.prior":
            node.values["prior"] = str(prior)
        elif node.type == "loaders.unclip":
            node.values["unclip"] = str(folders[2])
        elif node.type == "loaders.checkpoint":
            node.values["checkpoint"] = str(decoder)
        elif node.type == "latent.empty":
            node.values.update(width=SIZE, height=SIZE)
        elif node.type in ("sampling.sampler", "unclip.prior", "unclip.decode",
                           "unclip.super_resolution"):
            node.values["steps"] = steps
    return graph


def _run(graph, tmp_path: Path, registry):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    assert len(result.files) == 1
    return np.asarray(Image.open(result.files[0]))


def test_prior_decoder_workflow_matches_the_pipelines(registry, folders, tmp_path):
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

    graph = _graph("dalle2_prior_decoder.json", registry, folders)
    image = _run(graph, tmp_path, registry)
    assert image.shape == (SIZE, SIZE, 3) and image.std() > 0

    prior_node = next(n for n in graph.nodes.values() if n.type == "unclip.prior")
    text, seed = prior_node.values["text"], 42
    prior = KandinskyV22PriorPipeline.from_pretrained(folders[0], local_files_only=True)
    decoder = KandinskyV22Pipeline.from_pretrained(folders[1], local_files_only=True)
    out = prior(text, num_inference_steps=3, guidance_scale=4.0,
                generator=torch.Generator().manual_seed(seed))
    expected = decoder(image_embeds=out.image_embeds,
                       negative_image_embeds=out.negative_image_embeds, height=SIZE, width=SIZE,
                       num_inference_steps=3, guidance_scale=4.0,
                       generator=torch.Generator().manual_seed(seed), output_type="pil").images[0]
    assert np.abs(image.astype(int) - np.asarray(expected).astype(int)).max() <= 1


def test_image_variations_workflow_runs_and_the_picture_matters(registry, folders, tmp_path):
    picture = tmp_path / "picture.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(picture)
    graph = _graph("dalle2_image_variations.json", registry, folders)
    load = next(n for n in graph.nodes.values() if n.type == "image.load")
    load.values["path"] = str(picture)
    first = _run(graph, tmp_path / "a", registry)
    assert first.shape == (SIZE, SIZE, 3) and first.std() > 0
    Image.fromarray(255 - np.asarray(Image.open(picture))).save(picture)
    second = _run(graph, tmp_path / "b", registry)
    assert np.abs(first.astype(int) - second.astype(int)).max() > 0


def test_text_encode_on_the_decoder_fails_in_one_line(registry, folders, tmp_path):
    graph = _graph("dalle2_prior_decoder.json", registry, folders, steps=2)
    sampler = next(i for i, n in graph.nodes.items() if n.type == "sampling.sampler")
    encode = graph.add("conditioning.text_encode", registry=registry, values={"text": "a cat"})
    decoder = next(i for i, n in graph.nodes.items() if n.type == "loaders.checkpoint")
    graph.connect(decoder, "clip", encode.id, "clip")
    graph.connect(encode.id, "conditioning", sampler, "positive")
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "failed"
    assert "no text encoder" in result.error and "\n" not in result.error


def test_karlo_cascade_workflow_runs(registry, folders, tmp_path):
    graph = _graph("dalle2_karlo.json", registry, folders, steps=2)
    image = _run(graph, tmp_path, registry)
    assert image.shape == (64, 64, 3) and image.std() > 0  # the tiny super-res is 64px
