"""ComfyUI_IPAdapter_plus's nodes (IPAdapterModelLoader, IPAdapterAdvanced, IPAdapter,
IPAdapterUnifiedLoader) and ComfyUI's Canny map both ways; what is approximated is noted; a
ComfyUI IP-Adapter workflow with the unified loader opens and runs on tiny models."""

from __future__ import annotations

import json

import pytest

from app.engine.registry import default_registry
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import comfy_docs


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def _advanced(weight_type: str = "linear") -> dict:
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "IPAdapterModelLoader",
                 "inputs": {"ipadapter_file": "ip-adapter-plus_sd15.safetensors"}}
    doc["21"] = {"class_type": "CLIPVisionLoader",
                 "inputs": {"clip_name": "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"}}
    doc["22"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    doc["23"] = {"class_type": "IPAdapterAdvanced", "inputs": {
        "model": ["4", 0], "ipadapter": ["20", 0], "image": ["22", 0], "clip_vision": ["21", 0],
        "weight": 0.7, "weight_type": weight_type, "combine_embeds": "concat", "start_at": 0.1,
        "end_at": 0.9, "embeds_scaling": "V only"}}
    doc["24"] = {"class_type": "Canny", "inputs": {"image": ["22", 0], "low_threshold": 0.3,
                                                   "high_threshold": 0.6}}
    doc["25"] = {"class_type": "PreviewImage", "inputs": {"images": ["24", 0]}}
    doc["3"]["inputs"]["model"] = ["23", 0]
    return doc


def test_ipadapter_advanced_and_canny_map_both_ways(registry):
    graph = load_comfy(_advanced(), "wf.json", registry)
    assert graph.nodes["20"].type == "loaders.ip_adapter"
    assert graph.nodes["20"].values["ipadapter"] == "ip-adapter-plus_sd15.safetensors"
    apply = graph.nodes["23"]
    assert apply.type == "conditioning.apply_ip_adapter"
    assert apply.values == {"weight": 0.7, "start_at": 0.1, "end_at": 0.9,
                            "weight_type": "linear", "combine_embeds": "concat",
                            "embeds_scaling": "V only", "weight_composition": 1.0}
    assert {k: e.source for k, e in graph.incoming("23").items()} == {
        "model": "4", "ipadapter": "20", "image": "22", "clip_vision": "21"}
    assert graph.incoming("3")["model"].source == "23"
    assert graph.nodes["24"].type == "hints.canny"
    assert graph.nodes["24"].values == {"low_threshold": 0.3, "high_threshold": 0.6}
    assert validate(graph, registry) == []
    assert graph.metadata["comfyui"]["notes"] == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["23"]["class_type"] == "IPAdapterAdvanced"
    assert prompt["23"]["inputs"] == {
        "weight": 0.7, "weight_type": "linear", "combine_embeds": "concat", "start_at": 0.1,
        "end_at": 0.9, "embeds_scaling": "V only", "model": ["4", 0], "ipadapter": ["20", 0],
        "image": ["22", 0], "clip_vision": ["21", 0]}
    assert prompt["20"]["inputs"] == {"ipadapter_file": "ip-adapter-plus_sd15.safetensors"}
    assert prompt["24"] == {"class_type": "Canny", "_meta": {"title": "Canny"}, "inputs": {
        "low_threshold": 0.3, "high_threshold": 0.6, "image": ["22", 0]}}
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert back.nodes["23"].values == apply.values


def test_weight_types_map_and_unsupported_ones_are_noted(registry):
    graph = load_comfy(_advanced("ease in"), "wf.json", registry)
    assert graph.metadata["comfyui"]["notes"] == []
    assert graph.nodes["23"].values["weight_type"] == "ease in"
    graph.nodes["23"].values["combine_embeds"] = "norm average"
    prompt = to_comfy_api(graph, registry)
    assert prompt["23"]["inputs"]["weight_type"] == "ease in"
    assert prompt["23"]["inputs"]["combine_embeds"] == "norm average"
    graph = load_comfy(_advanced("style transfer precise"), "wf.json", registry)
    assert graph.metadata["comfyui"]["notes"] == []
    assert graph.nodes["23"].values["weight_type"] == "style transfer precise"
    graph = load_comfy(_advanced("very precise"), "wf.json", registry)
    notes = " ".join(graph.metadata["comfyui"]["notes"])
    assert "weight_type 'very precise'" in notes
    assert graph.nodes["23"].values["weight_type"] == "linear"
    simple = load_comfy(_unified(), "wf.json", registry)
    assert simple.nodes["23"].values["weight_type"] == "linear"  # "standard"


@pytest.mark.parametrize("scaling", ["K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"])
def test_embeds_scaling_maps_both_ways(registry, scaling):
    doc = _advanced("composition precise")
    doc["23"]["inputs"]["embeds_scaling"] = scaling
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.metadata["comfyui"]["notes"] == []
    assert graph.nodes["23"].values["embeds_scaling"] == scaling
    prompt = to_comfy_api(graph, registry)
    assert prompt["23"]["inputs"]["embeds_scaling"] == scaling
    assert prompt["23"]["inputs"]["weight_type"] == "composition precise"
    doc["23"]["inputs"]["embeds_scaling"] = "Q only"
    graph = load_comfy(doc, "wf.json", registry)
    assert "embeds_scaling 'Q only'" in " ".join(graph.metadata["comfyui"]["notes"])
    assert graph.nodes["23"].values["embeds_scaling"] == "V only"


@pytest.mark.parametrize("expand", [False, True])
def test_style_composition_node_maps_to_a_composition_image(registry, expand):
    doc = _advanced()
    doc["26"] = {"class_type": "LoadImage", "inputs": {"image": "layout.png"}}
    doc["23"] = {"class_type": "IPAdapterStyleComposition", "inputs": {
        "model": ["4", 0], "ipadapter": ["20", 0], "image_style": ["22", 0],
        "image_composition": ["26", 0], "clip_vision": ["21", 0], "weight_style": 0.9,
        "weight_composition": 0.4, "expand_style": expand, "combine_embeds": "average",
        "start_at": 0.0, "end_at": 1.0, "embeds_scaling": "K+V"}}
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.nodes["23"].values == {
        "weight": 0.9, "start_at": 0.0, "end_at": 1.0, "combine_embeds": "average",
        "weight_type": "strong style and composition" if expand else "style and composition",
        "embeds_scaling": "K+V", "weight_composition": 0.4}
    assert {k: e.source for k, e in graph.incoming("23").items()} == {
        "model": "4", "ipadapter": "20", "image": "22", "image_composition": "26",
        "clip_vision": "21"}
    assert validate(graph, registry) == []
    with pytest.raises(ExportError, match="composition image"):
        to_comfy_api(graph, registry)
    graph.disconnect("23", "image_composition")
    with pytest.raises(ExportError, match="composition weight of 1"):
        to_comfy_api(graph, registry)


def _unified(checkpoint: str = "v1-5-pruned-emaonly.safetensors") -> dict:
    doc = comfy_docs.api()
    doc["4"]["inputs"]["ckpt_name"] = checkpoint
    doc["20"] = {"class_type": "IPAdapterUnifiedLoader", "inputs": {
        "model": ["4", 0], "preset": "PLUS (high strength)"}}
    doc["22"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    doc["23"] = {"class_type": "IPAdapter", "inputs": {
        "model": ["20", 0], "ipadapter": ["20", 1], "image": ["22", 0], "weight": 0.8,
        "start_at": 0.0, "end_at": 1.0, "weight_type": "standard"}}
    doc["3"]["inputs"]["model"] = ["23", 0]
    return doc


def test_unified_loader_gives_the_apply_its_clip_vision(registry):
    graph = load_comfy(_unified(), "wf.json", registry)
    assert graph.nodes["20"].type == "loaders.ip_adapter_preset"
    assert graph.nodes["20"].values["preset"] == "PLUS (high strength)"
    assert {k: (e.source, e.output) for k, e in graph.incoming("23").items()} == {
        "model": ("20", "model"), "ipadapter": ("20", "ipadapter"), "image": ("22", "image"),
        "clip_vision": ("20", "clip_vision")}
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["20"]["inputs"] == {"preset": "PLUS (high strength)", "model": ["4", 0]}
    assert prompt["23"]["class_type"] == "IPAdapterAdvanced"
    assert "clip_vision" not in prompt["23"]["inputs"]  # ComfyUI carries it in the bundle
    assert prompt["23"]["inputs"]["ipadapter"] == ["20", 1]


def test_ipadapter_in_the_ui_format_reads_its_widgets_in_order(registry):
    from app.interop.comfy_ui import ui_to_prompt

    doc = comfy_docs.ui()
    doc["nodes"].append(comfy_docs._node(30, "IPAdapterAdvanced", [0, 600], [
        {"name": "model", "type": "MODEL", "link": None},
        {"name": "ipadapter", "type": "IPADAPTER", "link": None},
        {"name": "image", "type": "IMAGE", "link": None}],
        [{"name": "MODEL", "type": "MODEL", "links": [], "slot_index": 0}],
        [0.65, "linear", "concat", 0.2, 0.8, "V only"]))
    prompt = ui_to_prompt(doc, "wf.json")[0]
    assert prompt["30"]["inputs"] == {"weight": 0.65, "weight_type": "linear",
                                      "combine_embeds": "concat", "start_at": 0.2,
                                      "end_at": 0.8, "embeds_scaling": "V only"}


def test_comfy_ipadapter_workflow_runs_on_tiny_models(registry, tmp_path, monkeypatch):
    """The unified loader finds the released file names in the model folders."""
    import numpy as np
    from diffusers import UNet2DConditionModel
    from PIL import Image
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from app.engine.executor import Executor
    from node_api.context import RunOptions
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_ip_adapter import (
        build_tiny_clip_vision,
        ip_adapter_state,
        save_ip_adapter,
    )

    models = tmp_path / "models"
    checkpoint = build_tiny_sd(tmp_path / "tiny-sd")
    vision_dir = build_tiny_clip_vision(tmp_path / "vision", width=64)  # 64: one 64-wide head
    (models / "clip_vision").mkdir(parents=True)
    encoder = CLIPVisionModelWithProjection.from_pretrained(vision_dir)
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()},
              models / "clip_vision" / "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    (models / "ipadapter").mkdir()
    unet = UNet2DConditionModel.from_pretrained(checkpoint / "unet")
    save_ip_adapter(ip_adapter_state(unet, CLIPVisionConfig.from_pretrained(vision_dir), "plus"),
                    models / "ipadapter" / "ip-adapter-plus_sd15.safetensors")
    picture = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
                    ).save(picture)
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    doc = _unified(str(checkpoint))
    doc["22"]["inputs"]["image"] = str(picture)
    doc["5"]["inputs"].update(width=32, height=32)
    doc["3"]["inputs"]["steps"] = 2
    graph = load_comfy(doc, "wf.json", registry)
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "ok", result.error
    assert len(result.files) == 1
