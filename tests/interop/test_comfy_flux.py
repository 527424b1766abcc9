"""A ComfyUI Flux workflow (CLIPTextEncodeFlux, FluxGuidance, ModelSamplingFlux) maps onto
our nodes and exports back to the same classes and widget values."""

from __future__ import annotations

from app.engine.registry import default_registry
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api

FLUX_API = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev"}},
    "6": {"class_type": "CLIPTextEncodeFlux",
          "inputs": {"clip": ["4", 1], "clip_l": "a cat", "t5xxl": "a cat on a mat",
                     "guidance": 3.5}},
    "26": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": 2.5}},
    "30": {"class_type": "ModelSamplingFlux",
           "inputs": {"model": ["4", 0], "max_shift": 1.15, "base_shift": 0.5, "width": 1024,
                      "height": 1024}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024,
                                                       "batch_size": 1}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": ""}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["30", 0], "positive": ["26", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0], "seed": 1, "steps": 20, "cfg": 1.0,
                     "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "flux"}},
}


def test_flux_api_workflow_maps_and_exports_back():
    registry = default_registry()
    graph = load_comfy(FLUX_API, "flux_api.json", registry)
    types = {node.type for node in graph.nodes.values()}
    assert {"conditioning.text_encode_flux", "conditioning.flux_guidance",
            "model.sampling_flux"} <= types
    back = to_comfy_api(graph, registry)
    by_class = {v["class_type"]: v["inputs"] for v in back.values()}
    assert by_class["FluxGuidance"]["guidance"] == 2.5
    assert by_class["CLIPTextEncodeFlux"]["t5xxl"] == "a cat on a mat"
    assert by_class["ModelSamplingFlux"]["max_shift"] == 1.15
    assert by_class["ModelSamplingFlux"]["width"] == 1024
