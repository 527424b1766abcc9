"""ComfyUI's small core nodes (LatentFromBatch, RepeatLatentBatch, LatentRotate, LatentFlip,
LatentCrop, LatentBlend, ImageInvert, ImageBatch, EmptyImage, LoadImageMask) open from API
and UI files, export back to the same prompt, and run on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions
from tests.interop import basic_docs, comfy_docs

OURS = {
    "29": ("image.load_mask", {"path": "mask.png", "channel": "red"}),
    "20": ("latent.from_batch", {"batch_index": 1, "length": 1}),
    "21": ("latent.repeat_batch", {"amount": 2}),
    "22": ("latent.rotate", {"rotation": "90 degrees"}),
    "23": ("latent.flip", {"flip_method": "y-axis: horizontally"}),
    "24": ("latent.crop", {"width": 64, "height": 96, "x": 8, "y": 16}),
    "25": ("latent.blend", {"blend_factor": 0.25}),
    "26": ("hints.invert", {}),
    "27": ("image.empty", {"width": 32, "height": 48, "batch_size": 1, "color": 0xFF8000}),
    "28": ("image.batch", {}),
}


@pytest.mark.parametrize("form", ["api", "ui"])
def test_the_small_core_nodes_map_onto_ours(registry, form):
    doc = basic_docs.basic_api()
    graph = load_comfy(doc if form == "api" else basic_docs.to_ui(doc), "basic.json", registry)
    for node_id, (type_id, values) in OURS.items():
        assert graph.nodes[node_id].type == type_id, node_id
        assert graph.nodes[node_id].values == values, node_id
    incoming = graph.incoming("25")
    assert (incoming["first"].source, incoming["second"].source) == ("24", "3")
    assert (graph.incoming("28")["image1"].source, graph.incoming("28")["image2"].source) == (
        "26", "27")
    assert validate(graph, registry) == []
    assert graph.metadata["comfyui"]["notes"] == []  # nothing approximated


def test_ui_and_api_forms_give_the_same_graph(registry):
    api = load_comfy(basic_docs.basic_api(), "a.json", registry)
    ui = load_comfy(basic_docs.to_ui(basic_docs.basic_api()), "u.json", registry)
    assert comfy_docs.canonical(api)[0] == comfy_docs.canonical(ui)[0]


def test_export_gives_back_the_same_prompt_that_comfyui_accepts(registry):
    doc = basic_docs.basic_api()
    prompt = to_comfy_api(load_comfy(doc, "basic.json", registry), registry)
    for node_id, item in doc.items():
        assert prompt[node_id]["class_type"] == item["class_type"], node_id
        assert prompt[node_id]["inputs"] == item["inputs"], node_id
    for item in prompt.values():
        cls, inputs = item["class_type"], item["inputs"]
        if cls not in basic_docs.REQUIRED:
            continue
        assert basic_docs.REQUIRED[cls] == set(inputs), cls
        for (combo_cls, name), allowed in basic_docs.COMBOS.items():
            if combo_cls == cls:
                assert inputs[name] in allowed, (cls, name)
        for (range_cls, name), (lo, hi) in basic_docs.RANGES.items():
            if range_cls == cls:
                assert lo <= inputs[name] <= hi, (cls, name)
        for value in inputs.values():
            if isinstance(value, list):
                assert value[0] in prompt


@pytest.mark.parametrize(("node_id", "field", "value"), [
    ("22", "rotation", "45 degrees"), ("23", "flip_method", "diagonal"),
    ("29", "channel", "luma"), ("20", "batch_index", 64), ("25", "blend_factor", 1.5)])
def test_bad_values_are_one_line_naming_node_and_field(registry, node_id, field, value):
    doc = basic_docs.basic_api()
    doc[node_id]["inputs"][field] = value
    with pytest.raises(WorkflowError, match=field) as caught:
        load_comfy(doc, "basic.json", registry)
    assert "\n" not in str(caught.value)


def test_the_workflow_runs_on_a_tiny_model(registry, tiny_sd_checkpoint, tmp_path):
    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[:8, :, 0] = 255
    mask_file = tmp_path / "mask.png"
    Image.fromarray(red, "RGB").save(mask_file)
    doc = basic_docs.basic_api()
    doc["4"]["inputs"]["ckpt_name"] = str(tiny_sd_checkpoint)
    doc["29"]["inputs"]["image"] = str(mask_file)
    graph = load_comfy(doc, "basic.json", registry)
    result = Executor(registry).run(
        graph, targets=["9", "20", "21", "3", "24", "25", "8", "26", "28"],
        options=RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "ok", result.error
    out = {k: v[0] for k, v in result.outputs.items() if v}
    expected_mask = torch.zeros(1, 16, 16)
    expected_mask[:, :8] = 1.0
    assert torch.equal(out["20"].noise_mask.reshape(1, 16, 16), expected_mask)
    assert out["20"].samples.shape[0] == 1 and out["21"].samples.shape[0] == 2
    sampled = out["3"].samples  # 128 px on the tiny model (factor 2): 64 x 64 cells
    # rotating clockwise then mirroring left-right is a transpose; then the 8 x 12 cell crop
    assert torch.equal(out["24"].samples, sampled.transpose(2, 3)[:, :, 2:14, 1:9])
    from pipelines.batch_ops import center_resize

    fitted = center_resize(sampled, 8, 12, "bicubic")
    assert torch.allclose(out["25"].samples, out["24"].samples * 0.25 + fitted * 0.75)
    decoded, inverted, batch = out["8"], out["26"], out["28"]
    assert torch.allclose(inverted, 1.0 - decoded)
    assert batch.shape == (3, *decoded.shape[1:])
    assert torch.allclose(batch[2], torch.tensor([1.0, 128 / 255, 0.0]).expand_as(batch[2]))
    assert len(list((tmp_path / "out").glob("basic_*.png"))) == 3
    # the picked image, repeated, gets the noise of images 1 and 2 of the whole batch
    assert out["21"].batch_index == (1, 2)
    doc["5"]["inputs"]["batch_size"] = 3
    doc["3"]["inputs"]["latent_image"] = ["30", 0]
    whole = Executor(registry).run(load_comfy(doc, "whole.json", registry), targets=["3"])
    assert whole.status == "ok", whole.error
    assert torch.allclose(whole.outputs["3"][0].samples[1:3], sampled, atol=1e-5)
