"""The shipped Imagen-style cascade workflow (DeepFloyd IF stage I + II) runs on tiny IF
stages through the real nodes, and equals the same cascade run through ``pipelines``."""

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

WORKFLOW = Path(__file__).resolve().parents[2] / "resources" / "workflows" / "imagen_cascade.json"


@pytest.fixture(scope="module")
def if_stages(tmp_path_factory):
    from pipelines.testing.tiny_if import build_tiny_if

    root = tmp_path_factory.mktemp("if-stages")
    return build_tiny_if(root / "IF-I", stage=1), build_tiny_if(root / "IF-II", stage=2)


def _cascade(registry, stages):
    graph = open_workflow(WORKFLOW, registry)
    graph.find("Load IF Stage I").values["checkpoint"] = str(stages[0])
    graph.find("Load IF Stage II").values["checkpoint"] = str(stages[1])
    graph.find("Empty Latent (64px pixels)").values.update(width=16, height=16)
    graph.find("Stage I Sampler (64px)").values.update(steps=2)
    sr = graph.find("Stage II Super-Resolution (64 -> 256)")
    sr.values.update(steps=2, scale=2.0)
    return graph


def _run(registry, graph, tmp_path):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    return Executor(registry).run(graph, options=options)


def test_the_imagen_cascade_workflow_runs_and_equals_the_pipelines(registry, if_stages,
                                                                   tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.superres import pixels_to_image, super_resolve
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    result = _run(registry, _cascade(registry, if_stages), tmp_path)
    assert result.status == "ok", result.error
    saved = np.asarray(Image.open(result.files[0]).convert("RGB")).astype(int)
    assert saved.shape == (32, 32, 3) and saved.std() > 0

    model1, clip, _ = load_checkpoint(if_stages[0])
    model2, _, _ = load_checkpoint(if_stages[1])
    pos = encode_text(clip, "a photo of a red bird in the snow")
    neg = encode_text(clip, "")
    low = denoise(model1, pos, neg, Latent(samples=torch.zeros(1, 3, 16, 16)), Noise(42),
                  sampler="ddpm", steps=2, cfg=7.0)
    high = super_resolve(model2, pos, neg, pixels_to_image(low), Noise(42), scale=2.0,
                         noise_level=250, steps=2, cfg=4.0)
    expected = (pixels_to_image(high)[0].numpy() * 255).round().astype(int)
    assert np.abs(saved - expected).max() <= 1


def test_pixel_and_latent_values_meet_clear_errors(registry, if_stages, tiny_checkpoint,
                                                   tmp_path):
    graph = _cascade(registry, if_stages)
    graph.find("Load IF Stage I").values["checkpoint"] = str(tiny_checkpoint)
    result = _run(registry, graph, tmp_path)
    assert result.status == "failed"
    assert "Load IF Stage I" in result.error and "latent-space model" in result.error

    # a pixel-space latent into VAE Decode: told to use Pixels to Image
    graph = _cascade(registry, if_stages)
    loader = graph.add("loaders.checkpoint", registry=registry, values={"checkpoint": str(tiny_checkpoint)})
    decode = graph.add("vae.decode", registry=registry)
    save = graph.add("image.save", registry=registry)
    graph.connect(graph.find("Stage I Sampler (64px)").id, "latent", decode.id, "latent")
    graph.connect(loader.id, "vae", decode.id, "vae")
    graph.connect(decode.id, "image", save.id, "image")
    result = Executor(registry).run(graph, targets=[save.id],
                                    options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed" and "Pixels to Image" in result.error
