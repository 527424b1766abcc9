"""ComfyUI import (API and UI formats, PNG chunks), export and AUTOMATIC1111 parameters."""

from __future__ import annotations

import json

import pytest

from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import detect, load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import comfy_docs
from tests.interop.comfy_docs import canonical
from tests.nodes.conftest import txt2img_graph


def test_api_format_maps_to_a_valid_txt2img_graph(registry):
    graph = load_comfy(comfy_docs.api(), "api.json", registry)
    assert validate(graph, registry) == []
    by_title = {n.title: n for n in graph.nodes.values()}
    assert by_title["Positive Prompt"].values["text"].startswith("beautiful scenery")
    assert by_title["Negative Prompt"].values["text"] == "text, watermark"
    assert by_title["Noise"].type == "sampling.noise"
    assert by_title["Noise"].values["seed"] == comfy_docs.SEED
    sampler = graph.nodes["3"]
    assert sampler.type == "sampling.sampler"
    assert {k: sampler.values[k] for k in ("sampler", "schedule", "steps", "cfg", "denoise")} \
        == {"sampler": "euler", "schedule": "normal", "steps": 20, "cfg": 8, "denoise": 1}
    assert graph.nodes["4"].values["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    links = {(e.source, e.output, e.target, e.input) for e in graph.edges}
    assert ("4", "vae", "8", "vae") in links and ("4", "clip", "7", "clip") in links
    assert ("5", "latent", "3", "latent") in links
    assert (by_title["Noise"].id, "noise", "3", "noise") in links
    assert graph.metadata["comfyui"]["source_format"] == "comfyui-api"


def test_ui_format_gives_the_same_graph_with_positions(registry):
    assert detect(comfy_docs.ui()) == "ui" and detect(comfy_docs.api()) == "api"
    from_ui = load_comfy(comfy_docs.ui(), "ui.json", registry)
    from_api = load_comfy(comfy_docs.api(), "api.json", registry)
    assert canonical(from_ui) == canonical(from_api)  # Reroute followed, Note dropped
    assert from_ui.nodes["3"].position == (863.0, 186.0)


def test_ui_widgets_without_control_value_and_primitive_nodes(registry):
    doc = comfy_docs.ui()
    sampler = next(n for n in doc["nodes"] if n["id"] == 3)
    sampler["widgets_values"] = [5, 12, 6.5, "uni_pc", "simple", 0.8]  # no "randomize"
    sampler["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"},
                              "link": 12})
    doc["nodes"].append({"id": 12, "type": "PrimitiveNode", "pos": [600, 700], "mode": 0,
                         "outputs": [{"name": "INT", "type": "INT", "links": [12]}],
                         "widgets_values": [99, "fixed"]})
    doc["links"].append([12, 12, 0, 3, 4, "INT"])
    graph = load_comfy(doc, "ui.json", registry)
    values = graph.nodes["3"].values
    assert (values["steps"], values["cfg"], values["sampler"], values["denoise"]) == \
        (12, 6.5, "unipc_bh1", 0.8)  # ComfyUI's uni_pc is UniPC's bh1 variant
    assert values["schedule"] == "simple"  # ComfyUI's own schedule, exactly
    assert graph.metadata["comfyui"]["notes"] == []
    noise = next(n for n in graph.nodes.values() if n.type == "sampling.noise")
    assert noise.values["seed"] == 99


@pytest.mark.parametrize("comfy, ours, noted", [
    ("dpmpp_2m_sde", "dpmpp_2m_sde", False), ("ddpm", "ddpm", False), ("lcm", "lcm", False),
    ("lms", "lms", False), ("dpmpp_sde", "dpmpp_sde", False), ("dpmpp_sde_gpu", "dpmpp_sde", True),
    ("dpmpp_2m_sde_gpu", "dpmpp_2m_sde", True), ("totally_new", "euler", True),
])
def test_sampler_names(registry, comfy, ours, noted):
    doc = comfy_docs.api()
    doc["3"]["inputs"]["sampler_name"] = comfy
    doc["3"]["inputs"]["scheduler"] = "karras"
    graph = load_comfy(doc, "api.json", registry)
    assert graph.nodes["3"].values["sampler"] == ours
    assert graph.nodes["3"].values["schedule"] == "karras"
    assert bool(graph.metadata["comfyui"]["notes"]) == noted


def test_ksampler_advanced_keeps_its_step_range(registry):
    doc = comfy_docs.api()
    doc["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 5, "steps": 20, "cfg": 7, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 5, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}}
    graph = load_comfy(doc, "api.json", registry)
    node = graph.nodes["3"]
    assert node.type == "sampling.sampler_advanced"
    assert {k: node.values[k] for k in ("steps", "start_at_step", "end_at_step", "add_noise",
                                        "return_with_leftover_noise")} == {
        "steps": 20, "start_at_step": 5, "end_at_step": 10000, "add_noise": True,
        "return_with_leftover_noise": False}
    assert graph.metadata["comfyui"]["notes"] == []
    assert validate(graph, registry) == []
    back = to_comfy_api(graph, registry)["3"]
    assert back["class_type"] == "KSamplerAdvanced"
    assert {k: back["inputs"][k] for k in doc["3"]["inputs"]} == doc["3"]["inputs"]


def test_unmappable_nodes_are_named_in_one_error_or_become_placeholders(registry):
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "PhotoMakerEncode", "inputs": {
        "text": "a photo", "clip": ["4", 1]}}
    doc["3"]["inputs"]["positive"] = ["10", 0]
    doc["11"] = {"class_type": "PhotoMakerLoader", "inputs": {"photomaker_model_name": "pm.bin"}}
    doc["13"] = {"class_type": "FancyCustomNode", "inputs": {}}
    with pytest.raises(WorkflowError) as info:
        load_comfy(doc, "wf.json", registry)
    message = str(info.value)
    for name in ("PhotoMakerEncode", "PhotoMakerLoader", "FancyCustomNode", "#10", "wf.json"):
        assert name in message
    assert message.count("cannot be mapped") == 1

    graph = load_comfy(doc, "wf.json", registry, strict=False)
    placeholders = graph.metadata["comfyui"]["placeholders"]
    assert sorted(p["class_type"] for p in placeholders) == [
        "FancyCustomNode", "PhotoMakerEncode", "PhotoMakerLoader"]
    assert "9" in graph.nodes
    # each unmapped node stays as a stand-in of an unknown type, which validation names
    assert graph.nodes["10"].type == "comfyui/PhotoMakerEncode" and not graph.incoming("10")
    assert "positive" not in graph.incoming("3")  # its producer is a placeholder
    problems = validate(graph, registry)
    assert sorted((p.node_id, p.field) for p in problems) == [
        ("10", None), ("11", None), ("13", None), ("3", "positive")]


def test_export_then_import_round_trips(registry, tmp_path):
    graph = txt2img_graph(registry, tmp_path / "model", steps=3)
    graph.nodes["6"].values.update(sampler="unipc", schedule="karras", denoise=0.9)
    graph.add("latent.upscale", registry=registry, node_id="20", title="Latent Upscale",
              values={"factor": 1.5})
    graph.add("image.upscale", registry=registry, node_id="21", title="Upscale Image",
              values={"factor": 0.0, "width": 64, "height": 0, "method": "nearest"})
    graph.add("image.preview", registry=registry, node_id="22", title="Preview Image")
    graph.connect("6", "latent", "20", "latent")
    graph.connect("20", "latent", "7", "latent")
    graph.connect("7", "image", "21", "image")
    graph.connect("21", "image", "22", "image")
    prompt = to_comfy_api(graph, registry)
    assert prompt["6"]["class_type"] == "KSampler" and prompt["6"]["inputs"]["seed"] == 7
    assert prompt["6"]["inputs"]["sampler_name"] == "uni_pc_bh2"  # diffusers' default UniPC
    assert prompt["20"]["class_type"] == "LatentUpscaleBy"
    assert prompt["21"]["class_type"] == "ImageScale"
    assert prompt["21"]["inputs"]["upscale_method"] == "nearest-exact"
    assert "5" not in prompt  # the Noise Source folded into the KSampler
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert canonical(back) == canonical(graph)
    assert validate(back, registry) == []


def test_export_names_every_unmappable_node(registry, tmp_path):
    graph = txt2img_graph(registry, tmp_path / "model")
    graph.add("sampling.add_noise", registry=registry, node_id="30", title="Forward")
    graph.connect("1", "model", "30", "model")
    graph.connect("4", "latent", "30", "latent")
    graph.connect("5", "noise", "30", "noise")
    with pytest.raises(ExportError) as info:
        to_comfy_api(graph, registry)
    assert "'Forward' (#30)" in str(info.value) and "'Noise' (#5)" in str(info.value)


def test_every_sampler_and_schedule_exports_and_reimports_unchanged(registry):
    from pipelines.catalog import SAMPLER_NAMES, SCHEDULES_FOR

    for sampler in SAMPLER_NAMES:
        for schedule in SCHEDULES_FOR[sampler]:
            doc = comfy_docs.api()
            graph = load_comfy(doc, "api.json", registry)
            graph.nodes["3"].values.update(sampler=sampler, schedule=schedule)
            again = load_comfy(to_comfy_api(graph, registry), "api.json", registry)
            assert (again.nodes["3"].values["sampler"],
                    again.nodes["3"].values["schedule"]) == (sampler, schedule)
            assert again.metadata["comfyui"]["notes"] == []


def test_export_leaves_muted_nodes_out_and_wires_bypassed_ones_through(registry, tmp_path):
    graph = txt2img_graph(registry, tmp_path / "model", steps=3)
    graph.add("latent.upscale", registry=registry, node_id="20", title="Latent Upscale",
              values={"factor": 1.5})
    graph.add("image.preview", registry=registry, node_id="22", title="Preview Image")
    graph.connect("6", "latent", "20", "latent")
    graph.connect("20", "latent", "7", "latent")
    graph.connect("7", "image", "22", "image")
    graph.nodes["20"].mode = "bypass"
    graph.nodes["22"].mode = "mute"
    prompt = to_comfy_api(graph, registry)
    assert "20" not in prompt and "22" not in prompt
    decode = next(p for p in prompt.values() if p["class_type"] == "VAEDecode")
    assert decode["inputs"]["samples"] == ["6", 0]  # straight from the sampler


def test_ui_muted_and_bypassed_nodes_keep_their_modes_links_and_groups(registry):
    doc = comfy_docs.ui()
    nodes = {n["id"]: n for n in doc["nodes"]}
    nodes[9]["mode"] = 2  # Save Image muted
    nodes[7]["mode"] = 4  # the negative prompt bypassed
    doc["groups"] = [{"title": "Prompts", "bounding": [400, 150, 450, 400], "color": "#a1309b"},
                     {"title": "broken", "bounding": "nope"}]
    graph = load_comfy(doc, "ui.json", registry)
    assert graph.nodes["9"].mode == "mute" and graph.nodes["7"].mode == "bypass"
    assert graph.nodes["3"].mode == "normal"
    links = {(e.source, e.target, e.input) for e in graph.edges}
    assert ("8", "9", "image") in links and ("7", "3", "negative") in links  # wired as drawn
    assert [(g.title, g.bounds, g.colour) for g in graph.groups] == [
        ("Prompts", (400.0, 150.0, 450.0, 400.0), "#a1309b")]
    plain = load_comfy(comfy_docs.ui(), "ui.json", registry)
    assert canonical(graph) == canonical(plain)  # the same nodes, only their modes differ


@pytest.mark.parametrize("groups", [2.5, "x", {"a": 1}, True])
def test_ui_groups_of_the_wrong_shape_are_dropped(registry, groups):
    doc = comfy_docs.ui()
    doc["groups"] = groups  # a probe find: a number here was a TypeError
    graph = load_comfy(doc, "ui.json", registry)
    assert graph.groups == [] and canonical(graph) == canonical(
        load_comfy(comfy_docs.ui(), "ui.json", registry))
