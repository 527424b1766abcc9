"""Load VAE and Load LoRA nodes in real graphs over a tiny single-file SD1 checkpoint."""

from __future__ import annotations

import shutil

import pytest
import torch

from app.engine.executor import Executor
from tests.nodes.conftest import txt2img_graph


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder: checkpoints/sd1.safetensors, vae/ (a different VAE as an original-layout
    file, and the checkpoint's own VAE as a diffusers folder), loras/ (two random LoRAs)."""
    from safetensors.torch import save_file

    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.convert import vae_to_original
    from pipelines.testing.tiny_families import build_family
    from tests.pipelines.test_lora import make_lora

    root = tmp_path_factory.mktemp("models")
    tiny = build_family("sd1", root / "build")
    other = build_family("sd1", root / "other", seed=1)
    (root / "checkpoints").mkdir()
    shutil.copy(tiny.file, root / "checkpoints" / "sd1.safetensors")
    (root / "vae").mkdir()
    other_vae = load_checkpoint(other.folder)[2].vae
    save_file(vae_to_original(other_vae.state_dict(), prefix=""), str(root / "vae" / "alt.safetensors"))
    shutil.copytree(tiny.folder / "vae", root / "vae" / "own-vae")
    (root / "loras").mkdir()
    model, clip, _ = load_checkpoint(tiny.folder)
    for seed, name in ((1, "a.safetensors"), (2, "b.safetensors")):
        save_file(make_lora(model, clip, "kohya" if seed == 1 else "peft", seed=seed),
                  str(root / "loras" / name))
    return root


@pytest.fixture()
def studio_models(models, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(models / "none.toml"))
    return models


def _graph(registry, loras=(), vae=None):
    """txt2img at 64 px, with LoRA nodes chained between the loader and its users."""
    g = txt2img_graph(registry, "sd1.safetensors", steps=2, size=64)
    model_from, clip_from = ("1", "model"), ("1", "clip")
    for index, (name, strength_model, strength_clip) in enumerate(loras):
        node_id = f"lora{index}"
        g.add("loaders.lora", registry=registry, node_id=node_id,
              values={"lora": name, "strength_model": strength_model, "strength_clip": strength_clip})
        g.connect(*model_from, node_id, "model")
        g.connect(*clip_from, node_id, "clip")
        model_from, clip_from = (node_id, "model"), (node_id, "clip")
    g.connect(*model_from, "6", "model")
    g.connect(*clip_from, "2", "clip")
    g.connect(*clip_from, "3", "clip")
    if vae is not None:
        g.add("loaders.vae", registry=registry, node_id="vae", values={"vae": vae})
        g.connect("vae", "vae", "7", "vae")
    return g


def _latent(executor, graph) -> torch.Tensor:
    result = executor.run(graph, targets=["6"])
    assert result.status == "ok", result.error
    return result.outputs["6"][0].samples


def _image(executor, graph):
    result = executor.run(graph, targets=["7"])
    assert result.status == "ok", result.error
    return result.outputs["7"][0]


def test_lora_node_changes_the_result_and_removing_it_restores_it(registry, studio_models):
    executor = Executor(registry)
    base = _latent(Executor(registry), _graph(registry))
    with_lora = _latent(executor, _graph(registry, [("a.safetensors", 1.0, 1.0)]))
    assert (with_lora - base).abs().max() > 1e-3
    # the cached checkpoint was not modified by the LoRA: removing the node restores the result
    result = executor.run(_graph(registry), targets=["6"])
    assert "1" in result.cached
    assert torch.equal(result.outputs["6"][0].samples, base)
    zero = _latent(executor, _graph(registry, [("a.safetensors", 0.0, 0.0)]))
    assert torch.equal(zero, base)
    stacked = _latent(executor, _graph(registry, [("a.safetensors", 1.0, 1.0),
                                                  ("b.safetensors", 1.0, 1.0)]))
    assert (stacked - with_lora).abs().max() > 1e-3


def test_vae_node_overrides_the_checkpoint_vae(registry, studio_models):
    from pipelines.loading.checkpoint import load_vae

    executor = Executor(registry)
    own = _image(executor, _graph(registry))
    alt = _image(executor, _graph(registry, vae="alt.safetensors"))
    assert (alt - own).abs().max() > 1e-3
    folder = _image(executor, _graph(registry, vae="own-vae"))  # diffusers vae folder
    assert (folder - own).abs().max() < 1e-5
    vae = load_vae(studio_models / "vae" / "alt.safetensors")
    assert vae.scaling_factor == pytest.approx(0.18215)
    assert load_vae(studio_models / "vae" / "alt.safetensors", scaling="sdxl").scaling_factor == (
        pytest.approx(0.13025))


def test_vae_node_names_a_file_that_is_not_a_vae(registry, studio_models):
    graph = _graph(registry, vae=str(studio_models / "loras" / "a.safetensors"))
    result = Executor(registry).run(graph, targets=["7"])
    assert result.status == "failed"
    assert "Not a VAE" in result.error and "a.safetensors" in result.error
