"""ComfyUI's model-merging nodes (ModelMergeSimple/Add/Subtract/Blocks/SDXL, CLIPMerge*) open
onto Merge Models / Merge Models by Block / Merge Text Encoders, export back to the same
classes and values, and a merged graph runs on two tiny checkpoints."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.engine.executor import Executor
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import comfy_docs


def merge_api(first: str, second: str) -> dict[str, Any]:
    """ComfyUI's default graph with a second checkpoint merged into the model and CLIP."""
    doc = copy.deepcopy(comfy_docs.API)
    doc["4"]["inputs"]["ckpt_name"] = first
    doc["5"]["inputs"].update(width=16, height=16)
    doc["3"]["inputs"].update(steps=2, model=["12", 0])
    doc["10"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": second}}
    doc["11"] = {"class_type": "ModelMergeSubtract",
                 "inputs": {"model1": ["4", 0], "model2": ["10", 0], "multiplier": 0.5}}
    doc["12"] = {"class_type": "ModelMergeSimple",
                 "inputs": {"model1": ["4", 0], "model2": ["11", 0], "ratio": 0.75}}
    doc["13"] = {"class_type": "CLIPMergeAdd", "inputs": {"clip1": ["4", 1], "clip2": ["10", 1]}}
    sdxl = {f"input_blocks.{i}": 0.5 for i in range(9)} | {"out.": 0.25, "time_embed.": 0.9}
    doc["14"] = {"class_type": "ModelMergeSDXL",
                 "inputs": {"model1": ["4", 0], "model2": ["10", 0], **sdxl}}
    doc["15"] = {"class_type": "ModelMergeBlocks", "inputs": {
        "model1": ["4", 0], "model2": ["10", 0], "input": 0.1, "middle": 0.2, "out": 0.3}}
    for node in ("6", "7"):
        doc[node]["inputs"]["clip"] = ["13", 0]
    return doc


def test_the_merge_classes_map_onto_ours(registry):
    graph = load_comfy(merge_api("a.safetensors", "b.safetensors"), "merge.json", registry)
    assert (graph.nodes["11"].type, graph.nodes["11"].values) == (
        "model.merge", {"mode": "subtract", "ratio": 0.5})
    assert graph.nodes["12"].values == {"mode": "weighted", "ratio": 0.75}
    assert (graph.nodes["13"].type, graph.nodes["13"].values) == (
        "model.merge_text_encoders", {"mode": "add", "ratio": 1.0})
    blocks = graph.nodes["14"].values
    assert graph.nodes["14"].type == "model.merge_blocks" and blocks["input"] == 0.9
    assert "input_blocks.3=0.5" in blocks["blocks"] and "out.=0.25" in blocks["blocks"]
    assert "middle_block.1=1" in blocks["blocks"]  # widgets left out take their default
    assert graph.nodes["15"].values == {"input": 0.1, "middle": 0.2, "out": 0.3, "blocks": ""}
    assert graph.incoming("12")["model2"].source == "11"
    assert graph.incoming("6")["clip"].source == "13"
    assert validate(graph, registry) == []


def test_export_gives_back_the_same_classes_and_values(registry):
    doc = merge_api("a.safetensors", "b.safetensors")
    exported = to_comfy_api(load_comfy(doc, "merge.json", registry), registry)
    for node_id in ("11", "12", "13", "15"):
        assert exported[node_id]["class_type"] == doc[node_id]["class_type"], node_id
        assert exported[node_id]["inputs"] == doc[node_id]["inputs"], node_id
    sdxl = exported["14"]
    assert sdxl["class_type"] == "ModelMergeSDXL"
    assert {k: v for k, v in sdxl["inputs"].items() if not isinstance(v, list)} == {
        k: doc["14"]["inputs"].get(k, 1.0) for k in sdxl["inputs"] if "model" not in k}


def test_blocks_no_comfy_class_names_refuse_export(registry):
    graph = load_comfy(merge_api("a.safetensors", "b.safetensors"), "merge.json", registry)
    graph.nodes["15"].values["blocks"] = "down_blocks.1=0.5"
    with pytest.raises(ExportError, match="per-block ratios"):
        to_comfy_api(graph, registry)


def test_a_merged_graph_runs_on_two_tiny_checkpoints(registry, tiny_sd_checkpoint, tmp_path):
    from pipelines.testing.tiny import build_tiny_sd

    other = build_tiny_sd(tmp_path / "other", seed=9)
    doc = merge_api(str(tiny_sd_checkpoint), str(other))
    for node_id in ("14", "15"):  # block merging needs more than the tiny UNet's names: skip
        del doc[node_id]
    executor = Executor(registry)
    merged = executor.run(load_comfy(doc, "merge.json", registry), targets=["3"])
    assert merged.status == "ok", merged.error
    doc["3"]["inputs"]["model"], doc["6"]["inputs"]["clip"] = ["4", 0], ["4", 1]
    plain = executor.run(load_comfy(doc, "plain.json", registry), targets=["3"])
    assert plain.status == "ok", plain.error
    a, b = merged.outputs["3"][0].samples, plain.outputs["3"][0].samples
    assert a.shape == b.shape == (1, 4, 8, 8) and (a - b).abs().max() > 1e-4


def test_the_exported_merge_classes_are_valid_comfy_prompts(registry):
    from tests.interop.comfy_validity import object_info, problems

    graph = load_comfy(merge_api("a.safetensors", "b.safetensors"), "merge.json", registry)
    graph.nodes["15"].values["blocks"] = "input_blocks.4.=0.5, out.=0"  # SD1's names
    prompt = to_comfy_api(graph, registry)
    assert prompt["15"]["class_type"] == "ModelMergeSD1"
    assert prompt["15"]["inputs"]["input_blocks.4."] == 0.5
    assert prompt["15"]["inputs"]["input_blocks.5."] == 0.1  # input's ratio
    assert prompt["15"]["inputs"]["middle_block.0."] == 0.2
    assert prompt["15"]["inputs"]["out."] == 0
    assert prompt["15"]["inputs"]["output_blocks.3."] == 0.3
    assert problems(prompt) == []
    assert {item["class_type"] for item in prompt.values()} <= set(object_info())
