"""The shipped SD upscaler workflows run on tiny upscalers through the real nodes and equal the
same runs through ``pipelines``; a wrong model meets a one-line error naming the node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow as load_workflow
from node_api.context import RunOptions

WORKFLOWS = Path(__file__).resolve().parents[2] / "resources" / "workflows"


@pytest.fixture(scope="module")
def x4_folder(tmp_path_factory):
    from pipelines.testing.tiny_upscale import build_tiny_upscaler

    return build_tiny_upscaler(tmp_path_factory.mktemp("upscalers") / "x4", kind="x4")


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pictures") / "low.png"
    pixels = np.random.default_rng(3).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _run(registry, graph, tmp_path):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    return Executor(registry).run(graph, options=options)


def _x4_graph(registry, checkpoint: Path, picture: Path):
    graph = load_workflow(WORKFLOWS / "sd_x4_upscale.json", registry)
    graph.find("Load x4 Upscaler").values["checkpoint"] = str(checkpoint)
    graph.find("Low-Resolution Image").values["path"] = str(picture)
    graph.find("Diffusion Upscale x4").values.update(steps=2)
    return graph


def test_the_x4_workflow_runs_and_equals_the_pipelines(registry, x4_folder, picture, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.upscale import upscale_x4
    from pipelines.sampling.vae import decode
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Noise

    result = _run(registry, _x4_graph(registry, x4_folder, picture), tmp_path)
    assert result.status == "ok", result.error
    saved = np.asarray(Image.open(result.files[0]).convert("RGB")).astype(int)
    assert saved.shape == (48, 48, 3)

    model, clip, vae = load_checkpoint(x4_folder)
    image = torch.from_numpy(np.array(Image.open(picture).convert("RGB"))).float()[None] / 255
    latent = upscale_x4(model, encode_text(clip, "a sharp photo of a white cat"),
                        encode_text(clip, "blurry"), image, Noise(42), noise_level=20,
                        steps=2, cfg=9.0)
    expected = (decode(vae, latent)[0].numpy() * 255).round().astype(int)
    assert np.abs(saved - expected).max() <= 1


def test_a_plain_model_in_the_x4_node_is_a_clear_error(registry, tiny_checkpoint, picture,
                                                       tmp_path):
    result = _run(registry, _x4_graph(registry, tiny_checkpoint, picture), tmp_path)
    assert result.status == "failed"
    assert "Diffusion Upscale x4" in result.error and "not an x4 upscaler" in result.error
    assert "Traceback" not in result.error


@pytest.fixture(scope="module")
def x2_folder(tmp_path_factory):
    from pipelines.testing.tiny_upscale import build_tiny_upscaler

    return build_tiny_upscaler(tmp_path_factory.mktemp("upscalers") / "x2", kind="latent_x2")


def _x2_graph(registry, checkpoint: Path, upscaler: Path):
    graph = load_workflow(WORKFLOWS / "sd_latent_x2_upscale.json", registry)
    graph.find("Load SD Checkpoint").values["checkpoint"] = str(checkpoint)
    graph.find("Load Latent Upscaler").values["checkpoint"] = str(upscaler)
    graph.find("Empty Latent").values.update(width=32, height=32)
    graph.find("Sampler (512px)").values.update(steps=2)
    graph.find("Latent Diffusion Upscale x2").values.update(steps=2)
    return graph


def test_the_latent_x2_workflow_runs_and_equals_the_pipelines(registry, tiny_checkpoint,
                                                              x2_folder, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.latent_upscale import upscale_latent_x2
    from pipelines.sampling.vae import decode
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    result = _run(registry, _x2_graph(registry, tiny_checkpoint, x2_folder), tmp_path)
    assert result.status == "ok", result.error
    saved = np.asarray(Image.open(result.files[0]).convert("RGB")).astype(int)

    prompt = "a photo of an astronaut riding a horse"
    model, clip, _ = load_checkpoint(tiny_checkpoint)
    low = denoise(model, encode_text(clip, prompt), encode_text(clip, ""),
                  Latent(samples=torch.zeros(1, 4, 16, 16)), Noise(42), sampler="euler",
                  steps=2, cfg=7.5)
    upscaler, up_clip, up_vae = load_checkpoint(x2_folder)
    high = upscale_latent_x2(upscaler, encode_text(up_clip, prompt), encode_text(up_clip, ""),
                             low, Noise(42), steps=2, cfg=9.0)
    expected = (decode(up_vae, high)[0].numpy() * 255).round().astype(int)
    assert saved.shape == expected.shape == (256, 256, 3)
    assert np.abs(saved - expected).max() <= 1


def test_a_plain_model_in_the_latent_x2_node_is_a_clear_error(registry, tiny_checkpoint,
                                                              tmp_path):
    graph = _x2_graph(registry, tiny_checkpoint, tiny_checkpoint)
    result = _run(registry, graph, tmp_path)
    assert result.status == "failed", result.error
    assert "Latent Diffusion Upscale x2" in result.error
    assert "not the SD latent x2 upscaler" in result.error
