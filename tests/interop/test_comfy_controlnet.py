"""ComfyUI ControlNet workflows (ControlNetLoader / DiffControlNetLoader, ControlNetApply /
ControlNetApplyAdvanced) open in both formats, export back, and run on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.registry import default_registry
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from node_api.context import RunOptions
from tests.interop import comfy_docs
from tests.interop.comfy_docs import _in, _node, _out


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def api_doc() -> dict:
    """ComfyUI's default graph with a ControlNet between the prompts and the KSampler, as
    ComfyUI's "Save (API)" writes it."""
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "ControlNetLoader", "_meta": {"title": "Load ControlNet Model"},
                 "inputs": {"control_net_name": "control_v11p_sd15_canny.pth"}}
    doc["11"] = {"class_type": "LoadImage", "_meta": {"title": "Load Image"},
                 "inputs": {"image": "edges.png", "upload": "image"}}
    doc["12"] = {"class_type": "ControlNetApplyAdvanced", "_meta": {"title": "Apply ControlNet"},
                 "inputs": {"strength": 0.8, "start_percent": 0.0, "end_percent": 0.75,
                            "positive": ["6", 0], "negative": ["7", 0],
                            "control_net": ["10", 0], "image": ["11", 0], "vae": ["4", 2]}}
    doc["3"]["inputs"].update(positive=["12", 0], negative=["12", 1])
    return doc


def ui_doc() -> dict:
    """The same graph in ComfyUI's UI (LiteGraph) format."""
    doc = comfy_docs.ui()
    doc["nodes"] += [
        _node(14, "ControlNetLoader", [26, 700], [],
              [_out("CONTROL_NET", "CONTROL_NET", [15])], ["control_v11p_sd15_canny.pth"]),
        _node(15, "LoadImage", [26, 850], [],
              [_out("IMAGE", "IMAGE", [16]), _out("MASK", "MASK", [], 1)],
              ["edges.png", "image"]),
        _node(16, "ControlNetApplyAdvanced", [640, 300],
              [_in("positive", "CONDITIONING", 4), _in("negative", "CONDITIONING", 6),
               _in("control_net", "CONTROL_NET", 15), _in("image", "IMAGE", 16),
               _in("vae", "VAE", None)],
              [_out("positive", "CONDITIONING", [13]),
               _out("negative", "CONDITIONING", [14], 1)], [0.8, 0.0, 0.75]),
    ]
    sampler = next(n for n in doc["nodes"] if n["id"] == 3)
    sampler["inputs"][1]["link"], sampler["inputs"][2]["link"] = 13, 14
    links = [link for link in doc["links"] if link[0] not in (4, 6)]
    doc["links"] = links + [
        [4, 6, 0, 16, 0, "CONDITIONING"], [6, 7, 0, 16, 1, "CONDITIONING"],
        [13, 16, 0, 3, 1, "CONDITIONING"], [14, 16, 1, 3, 2, "CONDITIONING"],
        [15, 14, 0, 16, 2, "CONTROL_NET"], [16, 15, 0, 16, 3, "IMAGE"]]
    doc["last_node_id"], doc["last_link_id"] = 16, 16
    return doc


def _apply_node(graph):
    return next(n for n in graph.nodes.values() if n.type == "conditioning.apply_controlnet")


@pytest.mark.parametrize("form", ["api", "ui"])
def test_controlnet_workflow_opens(registry, form):
    graph = load_comfy(api_doc() if form == "api" else ui_doc(), "cn.json", registry)
    assert validate(graph, registry) == []
    apply = _apply_node(graph)
    assert apply.values == {"strength": 0.8, "start_percent": 0.0, "end_percent": 0.75,
                            "guess_mode": False}
    incoming = graph.incoming(apply.id)
    assert {"positive", "negative", "control_net", "image"} <= set(incoming)
    assert graph.nodes[incoming["control_net"].source].values["control_net"] == (
        "control_v11p_sd15_canny.pth")
    sampler = next(n for n in graph.nodes.values() if n.type == "sampling.sampler")
    feeds = graph.incoming(sampler.id)
    assert (feeds["positive"].source, feeds["positive"].output) == (apply.id, "positive")
    assert (feeds["negative"].source, feeds["negative"].output) == (apply.id, "negative")


def test_export_round_trip(registry):
    graph = load_comfy(api_doc(), "cn.json", registry)
    prompt = to_comfy_api(graph, registry)
    assert prompt["12"]["class_type"] == "ControlNetApplyAdvanced"
    assert prompt["12"]["inputs"]["negative"] == ["7", 0]
    assert prompt["10"] == {"class_type": "ControlNetLoader", "_meta": {"title":
                            "Load ControlNet Model"},
                            "inputs": {"control_net_name": "control_v11p_sd15_canny.pth"}}
    sampler = next(v for v in prompt.values() if v["class_type"] == "KSampler")
    assert sampler["inputs"]["positive"] == ["12", 0]
    assert sampler["inputs"]["negative"] == ["12", 1]
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert _apply_node(back).values["end_percent"] == 0.75


def test_old_apply_and_diff_loader_map(registry):
    doc = api_doc()
    doc["10"] = {"class_type": "DiffControlNetLoader",
                 "inputs": {"control_net_name": "cn.safetensors", "model": ["4", 0]}}
    doc["12"] = {"class_type": "ControlNetApply", "inputs": {
        "strength": 0.5, "conditioning": ["6", 0], "control_net": ["10", 0],
        "image": ["11", 0]}}
    doc["3"]["inputs"].update(positive=["12", 0], negative=["7", 0])
    graph = load_comfy(doc, "old.json", registry)
    assert validate(graph, registry) == []
    assert graph.nodes["10"].type == "loaders.diff_controlnet"
    assert graph.incoming("10")["model"].source == "4"  # a diff ControlNet needs the model
    assert "link" not in json.dumps(graph.metadata.get("comfyui", {}).get("notes", []))
    assert "negative" not in graph.incoming("12")
    # a positive-only apply has no ControlNetApplyAdvanced form: export says so
    with pytest.raises(ExportError, match="negative"):
        to_comfy_api(graph, registry)


def test_comfy_controlnet_workflow_runs_on_tiny_models(registry, tmp_path_factory):
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_control import build_tiny_controlnet

    root = tmp_path_factory.mktemp("comfy-cn")
    checkpoint = build_tiny_sd(root / "tiny-sd")
    controlnet = build_tiny_controlnet(checkpoint, root / "tiny-cn")
    hint = root / "edges.png"
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(hint)
    for form, doc in (("api", api_doc()), ("ui", ui_doc())):
        graph = load_comfy(doc, "cn.json", registry)
        for node in graph.nodes.values():
            values = {"loaders.checkpoint": {"checkpoint": str(checkpoint)},
                      "loaders.controlnet": {"control_net": str(controlnet)},
                      "image.load": {"path": str(hint)},
                      "latent.empty": {"width": 32, "height": 32},
                      "sampling.sampler": {"steps": 2}}.get(node.type, {})
            node.values.update(values)
        result = Executor(registry).run(graph, options=RunOptions(output_dir=root / form))
        assert result.status == "ok", result.error
        assert len(result.files) == 1 and Path(result.files[0]).is_file()
