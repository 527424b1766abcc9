"""File-level ComfyUI import: group nodes and subgraphs expanded, broken branches muted."""

from __future__ import annotations

import copy
import json

import pytest

from app.engine.graph import MUTE, NORMAL
from app.engine.subgraphs import runnable
from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from tests.interop import comfy_docs, comfy_group_docs
from tests.interop.comfy_docs import SEED, canonical
from tests.interop.comfy_group_docs import NEW_SEED


def _plain_with_new_sampler_values() -> dict:
    doc = comfy_docs.ui()
    sampler = next(n for n in doc["nodes"] if n["type"] == "KSampler")
    sampler["widgets_values"] = [NEW_SEED, "fixed", 25, 7.5, "euler", "karras", 1]
    return doc


def test_group_nodes_expand_to_their_inner_nodes_with_the_group_widget_values(registry):
    graph = load_comfy(comfy_group_docs.grouped(), "grouped.json", registry)
    expected = load_comfy(_plain_with_new_sampler_values(), "plain.json", registry)
    assert canonical(graph) == canonical(expected)
    # ids as ComfyUI numbers inner nodes when it queues: <group node id>:<index>
    sampler, decode = graph.nodes["12:0"], graph.nodes["12:1"]
    assert (sampler.type, decode.type) == ("sampling.sampler", "vae.decode")
    assert (sampler.values["steps"], sampler.values["cfg"], sampler.values["schedule"]) == (
        25, 7.5, "karras")
    assert graph.incoming("12:1")["latent"].source == "12:0"  # the link inside the group
    assert graph.incoming("9")["image"].source == "12:1"  # the group's output
    assert graph.incoming("12:0")["positive"].source == "13:0"  # group to group, via "workflow/"
    assert graph.nodes["13:1"].values["text"] == "text, watermark"
    assert validate(graph, registry) == []


def test_group_widget_values_that_do_not_line_up_fall_back_to_the_definition(registry):
    doc = comfy_group_docs.grouped()
    group = next(n for n in doc["nodes"] if n["type"] == "workflow>Sampler")
    group["widgets_values"] = [NEW_SEED, 25]  # not the 7 the inner KSampler has
    graph = load_comfy(doc, "grouped.json", registry)
    noise = graph.incoming("12:0")["noise"].source
    assert graph.nodes[noise].values["seed"] == SEED  # the definition's own value
    notes = graph.metadata["comfyui"]["notes"]
    assert any("group node #12 (Sampler)" in n and "do not line up" in n for n in notes)
    assert validate(graph, registry) == []


def test_a_group_node_in_a_png_layout_and_a_muted_group(registry):
    doc = comfy_group_docs.grouped()
    prompts = next(n for n in doc["nodes"] if n["type"] == "workflow/Prompts")
    prompts["mode"] = 2  # muted: its inner nodes are muted, so is what needs them
    graph = load_comfy(doc, "grouped.json", registry)
    assert graph.nodes["13:0"].mode == MUTE and graph.nodes["12:0"].mode == NORMAL
    assert "12:0" not in runnable(graph, registry).nodes


def test_subgraphs_expand_with_links_through_their_inputs_outputs_and_promoted_widgets(
        registry):
    graph = load_comfy(comfy_group_docs.with_subgraph(), "subgraph.json", registry)
    expected = load_comfy(_plain_with_new_sampler_values(), "plain.json", registry)
    assert canonical(graph) == canonical(expected)
    sid = "14"
    assert graph.nodes[f"{sid}:3"].type == "sampling.sampler"
    assert graph.incoming(f"{sid}:3")["model"].source == "4"  # through input 0
    assert graph.incoming(f"{sid}:8")["vae"].source == "4"
    assert graph.incoming("9")["image"].source == f"{sid}:8"  # through output 0
    noise = graph.incoming(f"{sid}:3")["noise"].source
    assert graph.nodes[noise].values["seed"] == NEW_SEED  # the instance's promoted widget
    assert validate(graph, registry) == []


def test_nested_subgraphs_and_schema_1_link_objects(registry):
    doc = comfy_group_docs.with_subgraph()
    outer_id = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    inner_def = doc["definitions"]["subgraphs"][0]
    # an outer subgraph whose only node is a use of the first one, wired straight through
    ports = [dict(p) for p in inner_def["inputs"][:5]]
    outer_def = {
        **{k: inner_def[k] for k in ("version", "revision", "state", "config", "inputNode",
                                     "outputNode", "groups", "extra")},
        "id": outer_id, "name": "Wrapper", "inputs": ports,
        "outputs": [dict(inner_def["outputs"][0])],
        "nodes": [{**copy.deepcopy(next(n for n in doc["nodes"] if n["id"] == 14)), "id": 1,
                   "widgets_values": [NEW_SEED]}],
        "links": [comfy_group_docs._link(20 + k, -10, k, 1, k, p["type"])
                  for k, p in enumerate(ports)]
        + [comfy_group_docs._link(30, 1, 0, -20, 0, "IMAGE")],
    }
    for k, slot in enumerate(outer_def["nodes"][0]["inputs"][:5]):
        slot["link"] = 20 + k
    doc["definitions"]["subgraphs"].append(outer_def)
    user = next(n for n in doc["nodes"] if n["id"] == 14)
    user["type"], user["inputs"], user["widgets_values"] = outer_id, user["inputs"][:5], []
    doc["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot",
                              "type"), row, strict=True)) for row in doc["links"]]
    doc["version"], doc["state"] = 1, inner_def["state"]
    graph = load_comfy(doc, "nested.json", registry)
    assert graph.nodes["14:1:3"].type == "sampling.sampler"
    assert graph.incoming("9")["image"].source == "14:1:8"
    assert graph.incoming("14:1:3")["model"].source == "4"
    assert validate(graph, registry) == []


def _two_outputs(custom_inputs: dict) -> dict:
    """The default API graph plus a second output behind a custom upscaler node."""
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "UltimateSDUpscale", "inputs": custom_inputs,
                 "_meta": {"title": "Ultimate SD Upscale"}}
    doc["21"] = {"class_type": "SaveImage", "inputs": {
        "filename_prefix": "upscaled", "images": ["20", 0]}, "_meta": {"title": "Save Image"}}
    return doc


def test_a_broken_branch_is_muted_and_the_rest_opens_and_validates(registry):
    doc = _two_outputs({"image": ["8", 0], "model": ["4", 0], "upscale_by": 2})
    graph = load_comfy(doc, "two.json", registry)  # strict, as the command line opens it
    assert graph.nodes["20"].type == "comfyui/UltimateSDUpscale"
    assert (graph.nodes["20"].mode, graph.nodes["21"].mode) == (MUTE, MUTE)
    assert graph.nodes["9"].mode == NORMAL
    broken = graph.metadata["comfyui"]["broken"]
    assert broken == ["node #20 (UltimateSDUpscale) cannot be mapped (unknown node type here "
                      "(a custom node?)); muted with the 1 output(s) that need it: "
                      "#21 (SaveImage)"]
    assert validate(graph, registry) == []
    assert sorted(runnable(graph, registry).nodes) == sorted(
        ["3", "4", "5", "6", "7", "8", "9", "22"])  # 22: the sampler's noise


def test_a_value_comfyui_would_refuse_breaks_only_its_branch(registry):
    doc = _two_outputs({"image": ["8", 0], "model": ["4", 0], "upscale_by": 2})
    doc["20"] = {"class_type": "ImageScaleBy", "inputs": {
        "upscale_method": "bicubic", "scale_by": "twice", "image": ["8", 0]}}
    graph = load_comfy(doc, "two.json", registry)
    assert graph.nodes["21"].mode == MUTE and graph.nodes["9"].mode == NORMAL
    [line] = graph.metadata["comfyui"]["broken"]
    assert line.startswith("node #20 (ImageScaleBy) cannot be mapped (node #20 (ImageScaleBy) "
                           "field 'scale_by': expected a finite number")
    assert validate(graph, registry) == []


def test_a_file_whose_every_output_is_broken_is_still_refused_in_one_line(registry):
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "UltimateSDUpscale", "inputs": {"image": ["8", 0]}}
    doc["9"]["inputs"]["images"] = ["20", 0]
    with pytest.raises(WorkflowError) as info:
        load_comfy(doc, "one.json", registry)
    assert "UltimateSDUpscale (unknown node type here (a custom node?); #20)" in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_and_run_report_each_broken_branch_in_one_line(tmp_path, capsys):
    from app.cli.main import main

    path = tmp_path / "two.json"
    path.write_text(json.dumps(_two_outputs({"image": ["8", 0]})))
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: {path}: node #20 (UltimateSDUpscale) cannot be mapped (unknown "
                   "node type here (a custom node?)); muted with the 1 output(s) that need "
                   "it: #21 (SaveImage)"]


def test_a_group_node_or_subgraph_without_its_definition_is_named_as_such(registry):
    doc = comfy_group_docs.grouped()
    del doc["extra"]["groupNodes"]["Prompts"]
    with pytest.raises(WorkflowError, match=r"workflow/Prompts \(a group node whose definition"):
        load_comfy(doc, "grouped.json", registry)
    doc = comfy_group_docs.with_subgraph()
    doc["definitions"]["subgraphs"] = []
    with pytest.raises(WorkflowError, match="a subgraph whose definition the file does not"):
        load_comfy(doc, "subgraph.json", registry)


def _mutations(doc, rng, count: int):
    """Copies of ``doc`` with one value somewhere replaced by something of another shape."""
    odd = [None, 7, -10, "x", [], {}, [1], [[1, 2]], {"id": []}, 1.5, True]

    def places(value, path=()):
        yield path
        children = value.items() if isinstance(value, dict) else enumerate(value) \
            if isinstance(value, list) else ()
        for key, child in children:
            yield from places(child, (*path, key))

    paths = [p for p in places(doc) if p]
    for _ in range(count):
        copy_ = json.loads(json.dumps(doc))
        *parent, last = rng.choice(paths)
        target = copy_
        for key in parent:
            target = target[key]
        target[last] = rng.choice(odd)
        yield copy_


def test_damaged_group_and_subgraph_files_fail_in_one_line_or_open(registry):
    import random

    rng = random.Random(16)
    for doc in [comfy_group_docs.grouped(), comfy_group_docs.with_subgraph()]:
        for damaged in _mutations(doc, rng, 300):
            try:
                load_comfy(damaged, "damaged.json", registry, strict=False)
            except WorkflowError as exc:
                assert "\n" not in str(exc)


def test_subgraphs_that_multiply_past_the_node_limit_are_refused(registry):
    doc = comfy_group_docs.with_subgraph()
    base = doc["definitions"]["subgraphs"][0]
    defs = [base]
    for level in range(16):  # each level uses the one below twice
        uid = f"00000000-0000-4000-8000-{level:012d}"
        defs.append({**{k: base[k] for k in ("version", "revision", "state", "config",
                                              "inputNode", "outputNode")},
                     "id": uid, "name": f"level {level}", "inputs": [], "outputs": [],
                     "links": [], "nodes": [{"id": i, "type": defs[-1]["id"], "pos": [0, 0],
                                             "inputs": [], "outputs": []} for i in (1, 2)]})
    doc["definitions"]["subgraphs"] = defs
    user = next(n for n in doc["nodes"] if n["id"] == 14)
    user["type"] = defs[-1]["id"]
    with pytest.raises(WorkflowError, match="more than 20000 nodes"):
        load_comfy(doc, "bomb.json", registry)


def test_a_png_with_a_prompt_and_a_group_node_workflow_takes_positions_from_the_groups(
        registry, tmp_path):
    from PIL import Image, PngImagePlugin

    from app.interop.comfy_export import to_comfy_api
    from app.interop.open import open_workflow

    grouped = comfy_group_docs.grouped()
    # ComfyUI queues a group node's inner nodes as <group node id>:<index>, as we name them
    prompt = to_comfy_api(load_comfy(grouped, "g.json", registry), registry)
    assert {"12:0", "12:1", "13:0", "13:1"} <= set(prompt)
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    info.add_text("workflow", json.dumps(grouped))
    path = tmp_path / "ComfyUI_00001_.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    graph = open_workflow(path, registry)
    assert graph.nodes["12:0"].position == (863.0, 186.0)  # where the group node was
    assert graph.nodes["12:1"].position == (863.0 + 1209 - 863, 188.0)
    assert validate(graph, registry) == []
