"""ComfyUI's conditioning operations (ConditioningCombine, Concat, Average, SetArea,
SetAreaPercentage, SetAreaStrength, SetMask, ZeroOut, SetTimestepRange) and CLIPSetLastLayer
open in both formats, export back with ComfyUI's inputs, and run on tiny models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.registry import default_registry
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions
from tests.interop import comfy_docs
from tests.interop.comfy_docs import _in, _node, _out

C = "CONDITIONING"
# ComfyUI's nodes.py INPUT_TYPES: every required input, in order (links and widgets)
COMFY_INPUTS = {
    "CLIPSetLastLayer": ("clip", "stop_at_clip_layer"),
    "ConditioningCombine": ("conditioning_1", "conditioning_2"),
    "ConditioningConcat": ("conditioning_to", "conditioning_from"),
    "ConditioningAverage": ("conditioning_to", "conditioning_from", "conditioning_to_strength"),
    "ConditioningSetArea": ("conditioning", "width", "height", "x", "y", "strength"),
    "ConditioningSetAreaPercentage": ("conditioning", "width", "height", "x", "y", "strength"),
    "ConditioningSetAreaStrength": ("conditioning", "strength"),
    "ConditioningSetMask": ("conditioning", "mask", "strength", "set_cond_area"),
    "ConditioningZeroOut": ("conditioning",),
    "ConditioningSetTimestepRange": ("conditioning", "start", "end"),
}

# (id, class, links {input: (source id, slot, type)}, outputs [(name, type)], widgets)
NODES: list[tuple[int, str, dict[str, tuple[int, int, str]], list[tuple[str, str]], list]] = [
    (30, "CLIPSetLastLayer", {"clip": (4, 1, "CLIP")}, [("CLIP", "CLIP")], [-2]),
    (31, "CLIPTextEncode", {"clip": (30, 0, "CLIP")}, [(C, C)], ["a red sun"]),
    (32, "ConditioningSetArea", {"conditioning": (31, 0, C)}, [(C, C)],
     [256, 512, 256, 0, 1.0]),
    (33, "ConditioningCombine", {"conditioning_1": (6, 0, C), "conditioning_2": (32, 0, C)},
     [(C, C)], None),
    (34, "ConditioningSetAreaPercentage", {"conditioning": (31, 0, C)}, [(C, C)],
     [0.5, 0.5, 0.0, 0.5, 0.8]),
    (35, "ConditioningSetAreaStrength", {"conditioning": (34, 0, C)}, [(C, C)], [0.6]),
    (36, "ConditioningConcat", {"conditioning_to": (33, 0, C), "conditioning_from": (35, 0, C)},
     [(C, C)], None),
    (37, "ConditioningAverage", {"conditioning_to": (36, 0, C), "conditioning_from": (6, 0, C)},
     [(C, C)], [0.7]),
    (38, "LoadImage", {}, [("IMAGE", "IMAGE"), ("MASK", "MASK")], ["sun.png", "image"]),
    (39, "ConditioningSetMask", {"conditioning": (31, 0, C), "mask": (38, 1, "MASK")},
     [(C, C)], [1.0, "mask bounds"]),
    (40, "ConditioningCombine", {"conditioning_1": (37, 0, C), "conditioning_2": (39, 0, C)},
     [(C, C)], None),
    (41, "ConditioningSetTimestepRange", {"conditioning": (40, 0, C)}, [(C, C)], [0.0, 0.8]),
    (42, "ConditioningSetTimestepRange", {"conditioning": (6, 0, C)}, [(C, C)], [0.8, 1.0]),
    (43, "ConditioningCombine", {"conditioning_1": (41, 0, C), "conditioning_2": (42, 0, C)},
     [(C, C)], None),
    (44, "ConditioningZeroOut", {"conditioning": (7, 0, C)}, [(C, C)], None),
]
SAMPLER_FEEDS = {"positive": 43, "negative": 44}


def api_doc() -> dict[str, Any]:
    """ComfyUI's default graph with every conditioning operation between the prompts and the
    KSampler (an area-composition workflow), as "Save (API)" writes it."""
    doc = comfy_docs.api()
    for node_id, cls, links, _, widgets in NODES:
        names = [n for n in COMFY_INPUTS.get(cls, ()) if n not in links]
        if cls == "CLIPTextEncode":
            names = ["text"]
        elif cls == "LoadImage":
            names = ["image", "upload"]
        inputs: dict[str, Any] = dict(zip(names, widgets or [], strict=True))
        inputs.update({k: [str(src), slot] for k, (src, slot, _) in links.items()})
        doc[str(node_id)] = {"inputs": inputs, "class_type": cls, "_meta": {"title": cls}}
    for name, src in SAMPLER_FEEDS.items():
        doc["3"]["inputs"][name] = [str(src), 0]
    doc["6"]["inputs"]["clip"] = doc["7"]["inputs"]["clip"] = ["30", 0]
    return doc


def ui_doc() -> dict[str, Any]:
    """The same graph in the UI (LiteGraph) format, links numbered as ComfyUI numbers them."""
    doc = comfy_docs.ui()
    links: list[list[Any]] = [link for link in doc["links"] if link[0] not in (3, 4, 5, 6)]
    next_id = 20

    def link(src: int, slot: int, dst: int, dst_slot: int, kind: str) -> int:
        nonlocal next_id
        next_id += 1
        links.append([next_id, src, slot, dst, dst_slot, kind])
        return next_id

    nodes = {n["id"]: n for n in doc["nodes"]}
    wired = {(6, "clip"): (30, 0, "CLIP"), (7, "clip"): (30, 0, "CLIP")}
    wired.update({(3, name): (src, 0, C) for name, src in SAMPLER_FEEDS.items()})
    for node_id, cls, node_links, outputs, widgets in NODES:
        nodes[node_id] = _node(node_id, cls, [700, 100 * node_id], [],
                               [_out(n, k, [], i) for i, (n, k) in enumerate(outputs)], widgets)
        wired.update({(node_id, name): source for name, source in node_links.items()})
    for (dst, name), (src, slot, kind) in wired.items():
        dst_node = nodes[dst]
        existing = [i for i in dst_node["inputs"] if i["name"] == name]
        if existing:
            index = dst_node["inputs"].index(existing[0])
        else:
            index = len(dst_node["inputs"])
            dst_node["inputs"].append(_in(name, kind, None))
        number = link(src, slot, dst, index, kind)
        dst_node["inputs"][index]["link"] = number
        out = next(o for o in nodes[src]["outputs"] if o["slot_index"] == slot)
        out["links"] = [*(out["links"] or []), number]
    for node in nodes.values():  # the checkpoint's CLIP now feeds only CLIPSetLastLayer
        if node["id"] == 4:
            node["outputs"][1]["links"] = [n for n in node["outputs"][1]["links"]
                                           if n not in (3, 5)]
    doc["nodes"], doc["links"] = list(nodes.values()), links
    doc["last_node_id"], doc["last_link_id"] = 44, next_id
    return doc


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.mark.parametrize("form", ["api", "ui"])
def test_conditioning_workflow_opens_with_comfyuis_values(registry, form):
    graph = load_comfy(api_doc() if form == "api" else ui_doc(), "regions.json", registry)
    assert validate(graph, registry) == []
    assert not graph.metadata.get("comfyui", {}).get("placeholders")
    values = {node_id: graph.nodes[str(node_id)].values for node_id, *_ in NODES}
    assert graph.nodes["30"].type == "conditioning.clip_set_last_layer"
    assert values[30] == {"stop_at_clip_layer": -2}
    assert values[32] == {"width": 256, "height": 512, "x": 256, "y": 0, "strength": 1.0}
    assert values[34] == {"width": 0.5, "height": 0.5, "x": 0.0, "y": 0.5, "strength": 0.8}
    assert values[37] == {"conditioning_to_strength": 0.7}
    assert values[39] == {"strength": 1.0, "set_cond_area": "mask bounds"}
    assert values[41] == {"start": 0.0, "end": 0.8}
    incoming = graph.incoming("39")
    assert (incoming["mask"].source, incoming["mask"].output) == ("38", "mask")
    assert graph.incoming("33")["conditioning_2"].source == "32"
    assert graph.incoming("6")["clip"].source == "30"


def test_export_gives_comfyuis_inputs_and_reimports(registry):
    graph = load_comfy(api_doc(), "regions.json", registry)
    prompt = to_comfy_api(graph, registry)
    original = api_doc()
    for node_id, cls, *_ in NODES:
        item = prompt[str(node_id)]
        assert item["class_type"] == cls
        if cls in COMFY_INPUTS:  # every required input, no more, links as saved
            assert set(item["inputs"]) == set(COMFY_INPUTS[cls]), cls
            assert item["inputs"] == original[str(node_id)]["inputs"], cls
    assert prompt["3"]["inputs"]["positive"] == ["43", 0]
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert comfy_docs.canonical(back) == comfy_docs.canonical(graph)


def test_comfy_conditioning_workflow_runs_on_tiny_models(registry, tmp_path_factory):
    from pipelines.testing.tiny import build_tiny_sd

    root = tmp_path_factory.mktemp("comfy-regions")
    checkpoint = build_tiny_sd(root / "tiny-sd")
    picture = root / "sun.png"
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[8:20, 4:28, 3] = 0  # transparent: LoadImage's mask is 1 there
    Image.fromarray(rgba, "RGBA").save(picture)
    for form, doc in (("api", api_doc()), ("ui", ui_doc())):
        graph = load_comfy(doc, "regions.json", registry)
        for node in graph.nodes.values():
            node.values.update({"loaders.checkpoint": {"checkpoint": str(checkpoint)},
                                "image.load": {"path": str(picture)},
                                "latent.empty": {"width": 32, "height": 32},
                                "sampling.sampler": {"steps": 3}}.get(node.type, {}))
        result = Executor(registry).run(graph, options=RunOptions(output_dir=root / form))
        assert result.status == "ok", result.error
        assert len(result.files) == 1 and Path(result.files[0]).is_file()
