"""ComfyUI's CLIP vision nodes map both ways; its SD 2.1 unCLIP nodes are named as unsupported."""

from __future__ import annotations

import json

import pytest

from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from tests.interop import comfy_docs


def _with_clip_vision(crop: str = "center") -> dict:
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "CLIPVisionLoader",
                 "inputs": {"clip_name": "clip_vision_h.safetensors"}}
    doc["21"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    doc["22"] = {"class_type": "CLIPVisionEncode",
                 "inputs": {"clip_vision": ["20", 0], "image": ["21", 0], "crop": crop}}
    return doc


def test_clip_vision_loader_and_encode_map_both_ways(registry):
    graph = load_comfy(_with_clip_vision(), "wf.json", registry)
    assert graph.nodes["20"].type == "loaders.clip_vision"
    assert graph.nodes["20"].values["clip_vision"] == "clip_vision_h.safetensors"
    assert graph.nodes["22"].type == "unclip.clip_vision_encode"
    assert {k: e.source for k, e in graph.incoming("22").items()} == {
        "clip_vision": "20", "image": "21"}
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["20"]["class_type"] == "CLIPVisionLoader"
    assert prompt["20"]["inputs"] == {"clip_name": "clip_vision_h.safetensors"}
    assert prompt["22"]["inputs"] == {"crop": "center", "clip_vision": ["20", 0],
                                      "image": ["21", 0]}
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert back.nodes["22"].type == "unclip.clip_vision_encode"


def test_clip_vision_encode_without_crop_is_noted(registry):
    graph = load_comfy(_with_clip_vision(crop="none"), "wf.json", registry)
    notes = json.dumps(graph.metadata.get("comfyui", {}))
    assert "center-cropped" in notes


def test_sd21_unclip_nodes_are_named(registry):
    doc = _with_clip_vision()
    doc["23"] = {"class_type": "unCLIPConditioning", "inputs": {
        "conditioning": ["6", 0], "clip_vision_output": ["22", 0], "strength": 1.0,
        "noise_augmentation": 0.0}}
    doc["3"]["inputs"]["positive"] = ["23", 0]  # the only output needs it: refused
    with pytest.raises(WorkflowError, match="unCLIPConditioning"):
        load_comfy(doc, "wf.json", registry)
