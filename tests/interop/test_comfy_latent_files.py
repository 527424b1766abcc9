"""ComfyUI's SaveLatent and LoadLatent open as our Save Latent / Load Latent, export back to
the same prompt, and run: the saved file is what ComfyUI's LoadLatent reads, loading it gives
the sampler's latent back, names are never reused, and files outside the folders are refused."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from app.engine.executor import Executor
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions


def _doc(checkpoint: str, latent_name: str = "mine.latent") -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": 2, "cfg": 7.0, "sampler_name": "euler",
                         "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "10": {"class_type": "SaveLatent",
               "inputs": {"samples": ["3", 0], "filename_prefix": "latents/ComfyUI"}},
        "11": {"class_type": "LoadLatent", "inputs": {"latent": latent_name}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["4", 2]}},
    }


def test_the_classes_map_onto_ours_and_export_back(registry):
    doc = _doc("tiny.safetensors")
    graph = load_comfy(doc, "latents.json", registry)
    assert graph.nodes["10"].type == "latent.save"
    assert graph.nodes["10"].values == {"filename_prefix": "latents_ComfyUI", "family": "auto"}
    assert graph.nodes["11"].type == "latent.load"
    assert graph.nodes["11"].values == {"path": "mine.latent", "family": "auto"}
    assert graph.incoming("10")["latent"].source == "3"
    prompt = to_comfy_api(graph, registry)
    assert prompt["10"]["class_type"] == "SaveLatent"
    assert prompt["10"]["inputs"] == {"samples": ["3", 0], "filename_prefix": "latents_ComfyUI"}
    assert prompt["11"]["class_type"] == "LoadLatent"
    assert prompt["11"]["inputs"] == {"latent": "mine.latent"}


def test_save_then_load_through_the_input_folder(registry, tiny_sd_checkpoint, tmp_path,
                                                 monkeypatch):
    out, inputs = tmp_path / "out", tmp_path / "input"
    inputs.mkdir()
    monkeypatch.setenv("STUDIO_INPUT", str(inputs))
    (out / "latents_ComfyUI_00001.latent").parent.mkdir()
    (out / "latents_ComfyUI_00001.latent").write_bytes(b"someone else's")
    graph = load_comfy(_doc(str(tiny_sd_checkpoint)), "latents.json", registry)
    run = Executor(registry).run(graph, targets=["10", "3"], options=RunOptions(output_dir=out))
    assert run.status == "ok", run.error
    written = out / "latents_ComfyUI_00002.latent"
    assert run.files == (str(written),)
    assert (out / "latents_ComfyUI_00001.latent").read_bytes() == b"someone else's"
    sampled = run.outputs["3"][0].samples
    stored = load_file(written)  # what ComfyUI's LoadLatent reads: the VAE's own latents
    assert "latent_format_version_0" in stored
    assert torch.allclose(stored["latent_tensor"], sampled / 0.18215, atol=1e-6)
    (inputs / "mine.latent").write_bytes(written.read_bytes())
    loaded = Executor(registry).run(graph, targets=["11", "8"], options=RunOptions(output_dir=out))
    assert loaded.status == "ok", loaded.error
    assert torch.allclose(loaded.outputs["11"][0].samples, sampled, atol=1e-6)
    assert loaded.outputs["8"][0].shape == (1, 64, 64, 3)


@pytest.mark.parametrize(("name", "expected"), [
    ("", "path: no latent file chosen"), ("missing.latent", "not found"),
    ("/etc/hostname", "outside the folders")])
def test_load_refusals_name_the_node_and_field(registry, tmp_path, monkeypatch, name, expected):
    monkeypatch.setenv("STUDIO_INPUT", str(tmp_path))
    graph = load_comfy({"11": {"class_type": "LoadLatent", "inputs": {"latent": name}}},
                       "l.json", registry)
    run = Executor(registry).run(graph, targets=["11"])
    assert run.status == "failed" and expected in run.error and "\n" not in run.error

