"""ComfyUI's DiffControlNetLoader (with its model link) and SetUnionControlNetType map both
ways; a diff ControlNet workflow from ComfyUI runs on tiny models and makes the image the full
ControlNet makes; guess mode, which ComfyUI lacks, is named on export."""

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
from tests.interop.test_comfy_controlnet import api_doc


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def diff_doc(union_type: str | None = None) -> dict:
    doc = api_doc()
    doc["10"] = {"class_type": "DiffControlNetLoader", "_meta": {"title": "Load Diff"},
                 "inputs": {"control_net_name": "control_canny_diff.safetensors",
                            "model": ["4", 0]}}
    if union_type is not None:
        doc["13"] = {"class_type": "SetUnionControlNetType",
                     "inputs": {"control_net": ["10", 0], "type": union_type}}
        doc["12"]["inputs"]["control_net"] = ["13", 0]
    return doc


def test_diff_loader_and_union_type_round_trip(registry):
    graph = load_comfy(diff_doc("depth"), "diff.json", registry)
    assert validate(graph, registry) == []
    assert graph.nodes["13"].type == "conditioning.union_controlnet_type"
    assert graph.nodes["13"].values == {"type": "depth"}
    prompt = to_comfy_api(graph, registry)
    assert prompt["10"]["class_type"] == "DiffControlNetLoader"
    assert prompt["10"]["inputs"] == {"control_net_name": "control_canny_diff.safetensors",
                                      "model": ["4", 0]}
    assert prompt["13"]["class_type"] == "SetUnionControlNetType"
    assert prompt["13"]["inputs"] == {"type": "depth", "control_net": ["10", 0]}
    back = load_comfy(json.loads(json.dumps(prompt)), "back.json", registry)
    assert back.nodes["13"].values == {"type": "depth"}


def test_unknown_union_type_is_noted(registry):
    graph = load_comfy(diff_doc("lineart_v2"), "diff.json", registry)
    assert graph.nodes["13"].values == {"type": "auto"}
    assert "lineart_v2" in json.dumps(graph.metadata["comfyui"]["notes"])


def test_guess_mode_is_named_on_export(registry):
    graph = load_comfy(api_doc(), "cn.json", registry)
    graph.nodes["12"].values["guess_mode"] = True
    with pytest.raises(ExportError, match="guess mode") as err:
        to_comfy_api(graph, registry)
    assert "Scaled Soft Weights (base_multiplier 0.8254 for SD 1.x" in str(err.value)


def test_the_named_soft_weights_are_diffusers_guess_mode():
    import torch

    from app.interop.comfy_control import SOFT_BASE

    for family, n in (("sd", 12), ("sdxl", 9)):
        soft = [SOFT_BASE[family] ** (n - i) for i in range(n)] + [1.0]
        assert torch.allclose(torch.tensor(soft, dtype=torch.float64),
                              torch.logspace(-1, 0, n + 1, dtype=torch.float64))


def _run(registry, doc, values, out):
    graph = load_comfy(doc, "cn.json", registry)
    for node in graph.nodes.values():
        node.values.update(values.get(node.type, {}))
    result = Executor(registry).run(graph, options=RunOptions(output_dir=out))
    assert result.status == "ok", result.error
    return np.asarray(Image.open(result.files[-1]), dtype=np.int16)


def test_diff_controlnet_workflow_runs_like_the_full_net(registry, tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_control import build_tiny_controlnet
    from tests.pipelines.test_controlnet_modes import _diff_file

    root = tmp_path_factory.mktemp("comfy-diff")
    checkpoint = build_tiny_sd(root / "tiny-sd")
    full = build_tiny_controlnet(checkpoint, root / "tiny-cn")
    unet = load_checkpoint(checkpoint)[0].denoiser
    diff = _diff_file(full, unet, root / "control_canny_diff.safetensors")
    hint = root / "edges.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
                    ).save(hint)
    common = {"loaders.checkpoint": {"checkpoint": str(checkpoint)},
              "image.load": {"path": str(hint)}, "latent.empty": {"width": 32, "height": 32},
              "sampling.sampler": {"steps": 2}}
    with_diff = _run(registry, diff_doc(), {**common, "loaders.diff_controlnet": {
        "control_net": str(diff)}}, root / "diff")
    with_full = _run(registry, api_doc(), {**common, "loaders.controlnet": {
        "control_net": str(full)}}, root / "full")
    assert np.abs(with_diff - with_full).max() <= 1  # 8-bit images of the same latents
    assert Path(diff).is_file()
