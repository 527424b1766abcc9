"""ComfyUI's CLIP vision and SD 2.1 unCLIP nodes (CLIPVisionLoader, CLIPVisionEncode with crop
center/none, unCLIPCheckpointLoader, unCLIPConditioning stacked twice) map both ways, in the API
and UI forms ComfyUI saves (its unCLIP example's shape), and such a workflow runs on a tiny
Stable unCLIP model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor, RunOptions
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from tests.interop import comfy_docs
from tests.interop.comfy_docs import _in, _node, _out

CKPT = "sd21-unclip-h.ckpt"


def _with_clip_vision(crop: str = "center") -> dict:
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "CLIPVisionLoader",
                 "inputs": {"clip_name": "clip_vision_h.safetensors"}}
    doc["21"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    doc["22"] = {"class_type": "CLIPVisionEncode",
                 "inputs": {"clip_vision": ["20", 0], "image": ["21", 0], "crop": crop}}
    return doc


def api_doc() -> dict:
    """ComfyUI's unCLIP example as "Save (API)" writes it: the checkpoint's CLIP vision encodes
    two images, each added by an unCLIPConditioning (stacked) to the positive prompt."""
    doc = comfy_docs.api()
    doc["4"] = {"class_type": "unCLIPCheckpointLoader", "inputs": {"ckpt_name": CKPT},
                "_meta": {"title": "unCLIPCheckpointLoader"}}
    doc["10"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png", "upload": "image"}}
    doc["11"] = {"class_type": "CLIPVisionEncode",
                 "inputs": {"clip_vision": ["4", 3], "image": ["10", 0], "crop": "center"}}
    doc["12"] = {"class_type": "unCLIPConditioning", "inputs": {
        "conditioning": ["6", 0], "clip_vision_output": ["11", 0], "strength": 1.0,
        "noise_augmentation": 0.1}}
    doc["13"] = {"class_type": "LoadImage", "inputs": {"image": "dog.png", "upload": "image"}}
    doc["14"] = {"class_type": "CLIPVisionEncode",
                 "inputs": {"clip_vision": ["4", 3], "image": ["13", 0], "crop": "none"}}
    doc["15"] = {"class_type": "unCLIPConditioning", "inputs": {
        "conditioning": ["12", 0], "clip_vision_output": ["14", 0], "strength": 0.5,
        "noise_augmentation": 0.0}}
    doc["3"]["inputs"]["positive"] = ["15", 0]
    doc["5"]["inputs"].update(width=768, height=768)
    return doc


def ui_doc() -> dict:
    """The same graph in ComfyUI's UI (LiteGraph) format."""
    doc = comfy_docs.ui()
    loader = next(n for n in doc["nodes"] if n["id"] == 4)
    loader.update(type="unCLIPCheckpointLoader", widgets_values=[CKPT],
                  properties={"Node name for S&R": "unCLIPCheckpointLoader"})
    loader["outputs"].append(_out("CLIP_VISION", "CLIP_VISION", [20, 21], 3))
    doc["nodes"] += [
        _node(12, "LoadImage", [26, 700], [],
              [_out("IMAGE", "IMAGE", [22]), _out("MASK", "MASK", [], 1)], ["cat.png", "image"]),
        _node(13, "CLIPVisionEncode", [300, 700],
              [_in("clip_vision", "CLIP_VISION", 20), _in("image", "IMAGE", 22)],
              [_out("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT", [23])], ["center"]),
        _node(14, "unCLIPConditioning", [600, 300],
              [_in("conditioning", "CONDITIONING", 4),
               _in("clip_vision_output", "CLIP_VISION_OUTPUT", 23)],
              [_out("CONDITIONING", "CONDITIONING", [24])], [1.0, 0.1]),
        _node(15, "LoadImage", [26, 900], [],
              [_out("IMAGE", "IMAGE", [25]), _out("MASK", "MASK", [], 1)], ["dog.png", "image"]),
        _node(16, "CLIPVisionEncode", [300, 900],
              [_in("clip_vision", "CLIP_VISION", 21), _in("image", "IMAGE", 25)],
              [_out("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT", [26])], ["none"]),
        _node(17, "unCLIPConditioning", [700, 400],
              [_in("conditioning", "CONDITIONING", 24),
               _in("clip_vision_output", "CLIP_VISION_OUTPUT", 26)],
              [_out("CONDITIONING", "CONDITIONING", [27])], [0.5, 0.0]),
    ]
    sampler = next(n for n in doc["nodes"] if n["id"] == 3)
    sampler["inputs"][1]["link"] = 27
    latent = next(n for n in doc["nodes"] if n["id"] == 5)
    latent["widgets_values"] = [768, 768, 1]
    doc["links"] = [link for link in doc["links"] if link[0] != 4] + [
        [4, 6, 0, 14, 0, "CONDITIONING"], [20, 4, 3, 13, 0, "CLIP_VISION"],
        [21, 4, 3, 16, 0, "CLIP_VISION"], [22, 12, 0, 13, 1, "IMAGE"],
        [23, 13, 0, 14, 1, "CLIP_VISION_OUTPUT"], [24, 14, 0, 17, 0, "CONDITIONING"],
        [25, 15, 0, 16, 1, "IMAGE"], [26, 16, 0, 17, 1, "CLIP_VISION_OUTPUT"],
        [27, 17, 0, 3, 1, "CONDITIONING"]]
    doc["last_node_id"], doc["last_link_id"] = 17, 27
    return doc


def test_clip_vision_loader_and_encode_map_both_ways(registry):
    graph = load_comfy(_with_clip_vision(), "wf.json", registry)
    assert graph.nodes["20"].type == "loaders.clip_vision"
    assert graph.nodes["20"].values["clip_vision"] == "clip_vision_h.safetensors"
    assert graph.nodes["22"].type == "unclip.clip_vision_encode"
    assert graph.nodes["22"].values == {"crop": "center"}
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


def test_clip_vision_encode_crop_none_is_kept_and_exported(registry):
    graph = load_comfy(_with_clip_vision(crop="none"), "wf.json", registry)
    assert graph.nodes["22"].values == {"crop": "none"}
    assert graph.metadata["comfyui"]["notes"] == []
    assert to_comfy_api(graph, registry)["22"]["inputs"]["crop"] == "none"
    odd = load_comfy(_with_clip_vision(crop="top"), "wf.json", registry)
    assert odd.nodes["22"].values == {"crop": "center"}
    assert "center-cropped" in json.dumps(odd.metadata["comfyui"]["notes"])


@pytest.mark.parametrize("form", ["api", "ui"])
def test_unclip_workflow_opens(registry, form):
    graph = load_comfy(api_doc() if form == "api" else ui_doc(), "unclip.json", registry)
    assert validate(graph, registry) == []
    assert graph.metadata["comfyui"]["notes"] == []
    loader = next(n for n in graph.nodes.values() if n.type == "loaders.unclip_checkpoint")
    assert loader.values == {"checkpoint": CKPT}
    conds = sorted((n for n in graph.nodes.values() if n.type == "conditioning.unclip"),
                   key=lambda n: n.values["strength"])
    assert [c.values for c in conds] == [{"strength": 0.5, "noise_augmentation": 0.0},
                                         {"strength": 1.0, "noise_augmentation": 0.1}]
    weak, strong = conds
    assert graph.incoming(weak.id)["conditioning"].source == strong.id  # stacked
    encode = graph.nodes[graph.incoming(strong.id)["embedding"].source]
    assert encode.type == "unclip.clip_vision_encode" and encode.values == {"crop": "center"}
    vision = graph.incoming(encode.id)["clip_vision"]
    assert (vision.source, vision.output) == (loader.id, "clip_vision")
    sampler = next(n for n in graph.nodes.values() if n.type == "sampling.sampler")
    assert graph.incoming(sampler.id)["positive"].source == weak.id


def test_unclip_export_round_trip(registry):
    graph = load_comfy(api_doc(), "unclip.json", registry)
    prompt = to_comfy_api(graph, registry)
    assert prompt["4"]["class_type"] == "unCLIPCheckpointLoader"
    assert prompt["4"]["inputs"] == {"ckpt_name": CKPT}
    assert prompt["11"]["inputs"]["clip_vision"] == ["4", 3]
    assert prompt["12"]["inputs"] == {"strength": 1.0, "noise_augmentation": 0.1,
                                      "conditioning": ["6", 0], "clip_vision_output": ["11", 0]}
    assert prompt["15"]["inputs"]["conditioning"] == ["12", 0]
    assert prompt["14"]["inputs"]["crop"] == "none"
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert comfy_docs.canonical(back) == comfy_docs.canonical(graph)


def test_comfy_unclip_workflow_runs_on_a_tiny_model(registry, tmp_path_factory):
    from pipelines.testing.tiny_sd_unclip import build_tiny_sd_unclip

    root = tmp_path_factory.mktemp("comfy-unclip")
    checkpoint = build_tiny_sd_unclip(root / "tiny-unclip")
    images = {}
    for index, name in enumerate(("cat.png", "dog.png")):
        pixels = np.random.default_rng(index).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)
        images[name] = str(root / name)
    for form, doc in (("api", api_doc()), ("ui", ui_doc())):
        graph = load_comfy(doc, "unclip.json", registry)
        for node in graph.nodes.values():
            values = {"loaders.unclip_checkpoint": {"checkpoint": str(checkpoint)},
                      "latent.empty": {"width": 32, "height": 32},
                      "sampling.sampler": {"steps": 2}}.get(node.type, {})
            if node.type == "image.load":
                values = {"path": images[node.values["path"]]}
            node.values.update(values)
        result = Executor(registry).run(graph, options=RunOptions(output_dir=root / form))
        assert result.status == "ok", result.error
        assert len(result.files) == 1 and Path(result.files[0]).is_file()
