"""Every workflow we can export passes ComfyUI's own prompt validation (as far as its input
definitions go): checked against the object_info subset in data/comfy_object_info.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.interop.a1111 import graph_from_parameters
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from app.interop.model_names import has_extension
from app.interop.open import open_workflow
from tests.interop import basic_docs, comfy_docs, comfy_group_docs, imageops_docs
from tests.interop import test_comfy_conditioning as conditioning
from tests.interop import test_comfy_control_modes as control_modes
from tests.interop import test_comfy_controlnet as controlnet
from tests.interop import test_comfy_gligen as gligen
from tests.interop import test_comfy_latent_files as latent_files
from tests.interop import test_comfy_style as style
from tests.interop import test_comfy_unclip as unclip
from tests.interop.comfy_validity import object_info, problems
from tests.interop.test_a1111_more import HIRES
from tests.interop.test_open import A1111

WORKFLOWS = sorted((Path(__file__).parents[2] / "resources" / "workflows").glob("*.json"))
# ComfyUI files as ComfyUI writes them (split sampling, model parts), beside these tests
FIXTURES = sorted((Path(__file__).parent / "workflows").glob("*.json"))
# classes of custom node packs we export (ComfyUI_IPAdapter_plus): not in core's object_info
CUSTOM_NODES = {"IPAdapterModelLoader", "IPAdapterUnifiedLoader", "IPAdapterAdvanced"}
MODEL_FIELDS = {"loaders.checkpoint": "checkpoint", "loaders.lora": "lora", "loaders.vae": "vae",
                "upscale.load_model": "model", "loaders.controlnet": "control_net",
                "loaders.clip_vision": "clip_vision", "loaders.unclip_checkpoint": "checkpoint",
                "loaders.diff_controlnet": "control_net", "loaders.diffusion_model": "unet_name",
                "loaders.text_encoders": ("clip_name1", "clip_name2", "clip_name3")}
# the model-file inputs of the exported classes: each a file name with its extension
FILE_INPUTS = ("ckpt_name", "lora_name", "vae_name", "model_name", "control_net_name",
               "clip_name", "clip_name1", "clip_name2", "clip_name3", "unet_name")


def test_the_checker_refuses_what_comfyui_refuses():
    prompt = comfy_docs.api()
    assert problems(prompt) == []
    prompt["4"]["inputs"]["ckpt_name"] = "v1-5-pruned-emaonly"  # as A1111 names it
    prompt["3"]["inputs"]["sampler_name"] = "euler_a"
    prompt["3"]["inputs"]["latent_image"] = ["4", 2]  # a VAE into a LATENT input
    del prompt["8"]["inputs"]["vae"]
    prompt["10"] = {"class_type": "FancyCustomNode", "inputs": {}}
    found = problems(prompt)
    assert len(found) == 5, found
    assert any("no model file extension" in p for p in found)


def _user_models(graph) -> None:
    """The shipped workflows name the built-in demo model and leave the image to open empty;
    a user's own models are files, and they pick an image."""
    for node in graph.nodes.values():
        if node.type == "image.load" and not node.values.get("path"):
            node.values["path"] = "example.png"
        fields = MODEL_FIELDS.get(node.type, ())
        for field in (fields,) if isinstance(fields, str) else fields:
            if node.values.get(field) and not has_extension(str(node.values[field])):
                node.values[field] = f"my-{field.replace('_', '-')}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_shipped_workflows_export_as_comfyui_accepts_them(registry, path):
    graph = open_workflow(path, registry)
    _user_models(graph)
    try:
        prompt = to_comfy_api(graph, registry)
    except ExportError:
        pytest.skip(f"{path.name} uses nodes ComfyUI has no counterpart for")
    custom = sorted({i["class_type"] for i in prompt.values()} & CUSTOM_NODES)
    if custom:
        pytest.skip(f"{path.name} exports custom nodes ({', '.join(custom)}), not in ComfyUI core")
    assert problems(prompt) == []
    _files_named_with_extension(prompt)


def _files_named_with_extension(prompt: dict[str, Any]) -> None:
    for item in prompt.values():  # the names were completed with their extension
        for name in FILE_INPUTS:
            if name in item["inputs"]:
                assert has_extension(item["inputs"][name]), item


def test_imported_files_export_back_as_comfyui_accepts_them(registry):
    graphs = {
        "default api": load_comfy(comfy_docs.api(), "api.json", registry),
        "default ui": load_comfy(comfy_docs.ui(), "ui.json", registry),
        "group nodes": load_comfy(comfy_group_docs.grouped(), "groups.json", registry),
        "subgraph": load_comfy(comfy_group_docs.with_subgraph(), "subgraph.json", registry),
        "a1111": graph_from_parameters(A1111, registry),
        "a1111 hires, loras, vae": graph_from_parameters(HIRES, registry),
    }
    model_only = comfy_docs.api()
    model_only["10"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "lora_name": "detail", "strength_model": 0.5, "model": ["4", 0]}}
    model_only["3"]["inputs"]["model"] = ["10", 0]
    graphs["lora model only"] = load_comfy(model_only, "lora.json", registry)
    classes: set[str] = set()
    for name, graph in graphs.items():
        prompt = to_comfy_api(graph, registry)
        assert problems(prompt) == [], name
        classes |= {item["class_type"] for item in prompt.values()}
    assert {"LoraLoader", "LoraLoaderModelOnly", "VAELoader", "LatentUpscaleBy"} <= classes
    assert classes <= set(object_info())


def _fixture(path: Path) -> Callable[[Any], Any]:
    return lambda registry: open_workflow(path, registry)


def _doc(make: Callable[[], dict[str, Any]], name: str) -> Callable[[Any], Any]:
    return lambda registry: load_comfy(make(), name, registry)


# the ComfyUI files and documents the interop tests import (today's mappings), exported back
IMPORTED = {
    **{path.stem: _fixture(path) for path in FIXTURES},
    "conditioning api": _doc(conditioning.api_doc, "conditioning.json"),
    "conditioning ui": _doc(conditioning.ui_doc, "conditioning.json"),
    "controlnet api": _doc(controlnet.api_doc, "controlnet.json"),
    "controlnet ui": _doc(controlnet.ui_doc, "controlnet.json"),
    "diff controlnet, union type": _doc(lambda: control_modes.diff_doc("depth"), "diff.json"),
    "clip vision": _doc(unclip._with_clip_vision, "clip_vision.json"),
    "unclip api": _doc(unclip.api_doc, "unclip.json"),
    "unclip ui": _doc(unclip.ui_doc, "unclip.json"),
    "outpaint api": _doc(imageops_docs.outpaint_api, "outpaint.json"),
    "outpaint ui": _doc(lambda: imageops_docs.to_ui(imageops_docs.outpaint_api()),
                        "outpaint.json"),
    "ip2p api": _doc(imageops_docs.ip2p_api, "ip2p.json"),
    "small core nodes api": _doc(basic_docs.basic_api, "basic.json"),
    "small core nodes ui": _doc(lambda: basic_docs.to_ui(basic_docs.basic_api()), "basic.json"),
    "latent files": _doc(lambda: latent_files._doc("sd15.safetensors"), "latents.json"),
    "gligen": _doc(lambda: gligen._doc("sd14.safetensors"), "gligen.json"),
    "flux redux": _doc(lambda: style._doc("flux1-dev.safetensors", "sigclip.safetensors",
                                          "flux1-redux-dev.safetensors", "ref.png"),
                       "redux.json"),
}


def _stems(graph) -> None:
    """Model files named without their extension, as A1111 and hand-made graphs name them."""
    for node in graph.nodes.values():
        fields = MODEL_FIELDS.get(node.type, ())
        for field in (fields,) if isinstance(fields, str) else fields:
            value = node.values.get(field)
            if isinstance(value, str) and has_extension(value):
                node.values[field] = Path(value).stem


@pytest.mark.parametrize("stems", [False, True], ids=["as saved", "model names as stems"])
@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_imported_comfy_files_export_as_comfyui_accepts_them(registry, name, stems):
    graph = IMPORTED[name](registry)
    _user_models(graph)
    if stems:
        _stems(graph)
    prompt = to_comfy_api(graph, registry)
    assert problems(prompt) == [], json.dumps(prompt, indent=1)
    _files_named_with_extension(prompt)
