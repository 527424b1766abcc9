"""A ComfyUI Flux Kontext workflow (ReferenceLatent, FluxKontextImageScale) maps onto our
nodes, runs on a tiny Kontext model and exports back to ComfyUI's classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api

KONTEXT_API = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-kontext"}},
    "10": {"class_type": "LoadImage", "inputs": {"image": "picture.png"}},
    "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "make it red"}},
    "12": {"class_type": "ReferenceLatent", "inputs": {"conditioning": ["6", 0],
                                                       "latent": ["11", 0]}},
    "13": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["12", 0],
                                                    "guidance": 2.5}},
    "7": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["6", 0]}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["4", 0], "positive": ["13", 0], "negative": ["7", 0],
                     "latent_image": ["11", 0], "seed": 1, "steps": 2, "cfg": 1.0,
                     "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "k"}},
}


def _scaled() -> dict:
    doc = {k: {**v, "inputs": dict(v["inputs"])} for k, v in KONTEXT_API.items()}
    doc["14"] = {"class_type": "FluxKontextImageScale", "inputs": {"image": ["10", 0]}}
    doc["11"]["inputs"]["pixels"] = ["14", 0]
    return doc


def test_kontext_workflow_maps_and_exports_back(registry):
    graph = load_comfy(_scaled(), "kontext.json", registry)
    assert graph.nodes["12"].type == "conditioning.reference_latent"
    assert graph.nodes["14"].type == "image.flux_kontext_scale"
    assert graph.incoming("12")["latent"].source == "11"
    back = to_comfy_api(graph, registry)
    assert back["12"]["class_type"] == "ReferenceLatent"
    assert back["12"]["inputs"] == {"conditioning": ["6", 0], "latent": ["11", 0]}
    assert back["14"]["class_type"] == "FluxKontextImageScale"
    assert back["14"]["inputs"] == {"image": ["10", 0]}


def test_reference_latent_without_a_latent_passes_the_conditioning(registry):
    doc = dict(KONTEXT_API)
    doc["12"] = {"class_type": "ReferenceLatent", "inputs": {"conditioning": ["6", 0]}}
    graph = load_comfy(doc, "kontext.json", registry)
    assert "latent" not in graph.incoming("12")


@pytest.fixture(scope="module")
def kontext(tmp_path_factory):
    from pipelines.testing.tiny_flux_edit import build_tiny_flux_kontext

    return build_tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "kontext")


def test_kontext_workflow_runs_with_the_reference(registry, kontext, tmp_path):
    picture = tmp_path / "picture.png"
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(picture)
    doc = {k: {**v, "inputs": dict(v["inputs"])} for k, v in KONTEXT_API.items()}
    doc["4"]["inputs"]["ckpt_name"] = str(kontext)
    doc["10"]["inputs"]["image"] = str(picture)
    graph = load_comfy(doc, "kontext.json", registry)
    result = Executor(registry).run(graph, targets=["3", "11", "12"])
    assert result.status == "ok", result.error
    encoded = result.outputs["11"][0].samples
    (reference,) = result.outputs["12"][0].extras["reference_latents"]
    assert torch.equal(reference, encoded)
    doc["13"]["inputs"]["conditioning"] = ["6", 0]  # the same run without the reference
    plain = Executor(registry).run(load_comfy(doc, "plain.json", registry), targets=["3"])
    assert plain.status == "ok", plain.error
    assert (plain.outputs["3"][0].samples - result.outputs["3"][0].samples).abs().max() > 1e-4


def test_kontext_scale_picks_the_nearest_trained_size():
    from pipelines.kontext_sizes import kontext_scale, kontext_size

    assert kontext_size(1000, 1000) == (1024, 1024)
    assert kontext_size(200, 100) == (1456, 720)  # aspect 2.02 is nearest 2
    assert kontext_size(100, 200) == (720, 1456)
    image = torch.rand(1, 30, 20, 3)
    assert kontext_scale(image).shape == (1, 1248, 832, 3)  # 2:3 -> 832 x 1248
