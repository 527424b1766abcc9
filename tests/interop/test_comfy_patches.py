"""ComfyUI's DifferentialDiffusion opens onto our Differential Diffusion (with or without the
newer strength widget), exports back, and the exported prompt is valid for ComfyUI."""

from __future__ import annotations

import copy

from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from tests.interop import comfy_docs
from tests.interop.comfy_validity import problems


def _doc(inputs: dict) -> dict:
    doc = copy.deepcopy(comfy_docs.API)
    doc["10"] = {"class_type": "DifferentialDiffusion", "inputs": {"model": ["4", 0], **inputs}}
    doc["3"]["inputs"]["model"] = ["10", 0]
    return doc


def test_differential_diffusion_both_ways(registry):
    old = load_comfy(_doc({}), "old.json", registry)
    assert (old.nodes["10"].type, old.nodes["10"].values) == (
        "model.differential_diffusion", {"strength": 1.0})
    new = load_comfy(_doc({"strength": 0.6}), "new.json", registry)
    assert new.nodes["10"].values == {"strength": 0.6}
    assert new.incoming("3")["model"].source == "10"
    prompt = to_comfy_api(new, registry)
    assert prompt["10"]["class_type"] == "DifferentialDiffusion"
    assert prompt["10"]["inputs"] == {"strength": 0.6, "model": ["4", 0]}
    assert problems(prompt) == []
