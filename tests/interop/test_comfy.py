"""ComfyUI import (API and UI formats, PNG chunks), export and AUTOMATIC1111 parameters."""

from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from app.engine.graph import Edge, Graph
from app.engine.registry import default_registry
from app.engine.validation import validate
from app.engine.workflow import WorkflowError, load_workflow
from app.interop.a1111 import graph_from_parameters, parse_parameters
from app.interop.comfy import detect, load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import comfy_docs
from tests.nodes.conftest import txt2img_graph


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def canonical(graph: Graph) -> tuple:
    """The graph without ids or positions: nodes by title, links by titles."""
    nodes = sorted((n.title, n.type, json.dumps(n.values, sort_keys=True))
                   for n in graph.nodes.values())
    title = {i: n.title for i, n in graph.nodes.items()}
    edges = sorted((title[e.source], e.output, title[e.target], e.input) for e in graph.edges)
    return nodes, edges


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
        (12, 6.5, "unipc", 0.8)
    assert values["schedule"] == "sgm_uniform"
    assert any("'simple'" in note for note in graph.metadata["comfyui"]["notes"])
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


def test_ksampler_advanced_start_step_becomes_denoise(registry):
    doc = comfy_docs.api()
    doc["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 5, "steps": 20, "cfg": 7, "sampler_name": "euler",
        "scheduler": "normal", "start_at_step": 5, "end_at_step": 10000,
        "return_with_leftover_noise": "disable", "model": ["4", 0], "positive": ["6", 0],
        "negative": ["7", 0], "latent_image": ["5", 0]}}
    graph = load_comfy(doc, "api.json", registry)
    assert (graph.nodes["3"].values["steps"], graph.nodes["3"].values["denoise"]) == (15, 0.75)
    assert validate(graph, registry) == []


def test_unmappable_nodes_are_named_in_one_error_or_become_placeholders(registry):
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "unCLIPConditioning", "inputs": {
        "strength": 1, "conditioning": ["6", 0]}}
    doc["3"]["inputs"]["positive"] = ["10", 0]
    doc["11"] = {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -2}}
    doc["13"] = {"class_type": "FancyCustomNode", "inputs": {}}
    with pytest.raises(WorkflowError) as info:
        load_comfy(doc, "wf.json", registry)
    message = str(info.value)
    for name in ("unCLIPConditioning", "CLIPSetLastLayer", "FancyCustomNode", "#10", "wf.json"):
        assert name in message
    assert message.count("cannot be mapped") == 1

    graph = load_comfy(doc, "wf.json", registry, strict=False)
    placeholders = graph.metadata["comfyui"]["placeholders"]
    assert sorted(p["class_type"] for p in placeholders) == [
        "CLIPSetLastLayer", "FancyCustomNode", "unCLIPConditioning"]
    assert "9" in graph.nodes
    # each unmapped node stays as a stand-in of an unknown type, which validation names
    assert graph.nodes["10"].type == "comfyui/unCLIPConditioning" and not graph.incoming("10")
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
    assert prompt["6"]["inputs"]["sampler_name"] == "uni_pc"
    assert prompt["20"]["class_type"] == "LatentUpscaleBy"
    assert prompt["21"]["class_type"] == "ImageScale"
    assert prompt["21"]["inputs"]["upscale_method"] == "nearest-exact"
    assert "5" not in prompt  # the Noise Source folded into the KSampler
    back = load_comfy(json.loads(json.dumps(prompt)), "exported.json", registry)
    assert canonical(back) == canonical(graph)
    assert validate(back, registry) == []


def test_learned_upscaler_nodes_map_both_ways(registry, tmp_path):
    doc = comfy_docs.api()
    doc["11"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x.pth"}}
    doc["12"] = {"class_type": "ImageUpscaleWithModel",
                 "inputs": {"upscale_model": ["11", 0], "image": ["8", 0]}}
    doc["13"] = {"class_type": "PreviewImage", "inputs": {"images": ["12", 0]}}
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.nodes["11"].type == "upscale.load_model"
    assert graph.nodes["11"].values["model"] == "4x.pth"
    assert graph.incoming("12")["upscale_model"].source == "11"
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["11"] == {"class_type": "UpscaleModelLoader",
                            "inputs": {"model_name": "4x.pth"}, "_meta": prompt["11"]["_meta"]}
    assert prompt["12"]["inputs"] == {"upscale_model": ["11", 0], "image": ["8", 0]}


def test_lora_and_vae_loaders_map_both_ways(registry):
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "LoraLoader", "inputs": {
        "lora_name": "style.safetensors", "strength_model": 0.8, "strength_clip": 0.5,
        "model": ["4", 0], "clip": ["4", 1]}}
    doc["3"]["inputs"]["model"] = ["10", 0]
    doc["6"]["inputs"]["clip"] = ["10", 1]
    doc["11"] = {"class_type": "VAELoader", "inputs": {"vae_name": "ft-mse.safetensors"}}
    doc["8"]["inputs"]["vae"] = ["11", 0]
    graph = load_comfy(doc, "wf.json", registry)
    lora = graph.nodes["10"]
    assert (lora.type, lora.values["lora"], lora.values["strength_model"]) == (
        "loaders.lora", "style.safetensors", 0.8)
    assert graph.incoming("3")["model"].source == "10"
    assert graph.incoming("6")["clip"] == Edge("10", "clip", "6", "clip")
    assert graph.nodes["11"].values["vae"] == "ft-mse.safetensors"
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["10"]["inputs"]["model"] == ["4", 0] and prompt["6"]["inputs"]["clip"] == ["10", 1]
    assert prompt["11"]["inputs"] == {"vae_name": "ft-mse.safetensors"}
    assert prompt["8"]["inputs"]["vae"] == ["11", 0]


def test_export_names_every_unmappable_node(registry, tmp_path):
    graph = txt2img_graph(registry, tmp_path / "model")
    graph.add("sampling.add_noise", registry=registry, node_id="30", title="Forward")
    graph.connect("1", "model", "30", "model")
    graph.connect("4", "latent", "30", "latent")
    graph.connect("5", "noise", "30", "noise")
    with pytest.raises(ExportError) as info:
        to_comfy_api(graph, registry)
    assert "'Forward' (#30)" in str(info.value) and "'Noise' (#5)" in str(info.value)


def _png(path, **chunks: str):
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_comfy_pngs_and_json_files_open_through_load_workflow(registry, tmp_path):
    both = _png(tmp_path / "ComfyUI_00001_.png", prompt=json.dumps(comfy_docs.api()),
                workflow=json.dumps(comfy_docs.ui()))
    graph = load_workflow(both, registry)
    assert canonical(graph) == canonical(load_comfy(comfy_docs.api(), "x", registry))
    assert graph.nodes["9"].position == (1451.0, 189.0)  # layout from the UI chunk
    only_ui = _png(tmp_path / "ui.png", workflow=json.dumps(comfy_docs.ui()))
    assert load_workflow(only_ui, registry).metadata["comfyui"]["source_format"] == "comfyui-ui"
    api_file = tmp_path / "api.json"
    api_file.write_text(json.dumps(comfy_docs.api()))
    assert validate(load_workflow(api_file, registry), registry) == []


A1111 = """masterpiece, a red fox in the snow,
detailed fur
Negative prompt: blurry, lowres,
bad anatomy
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x764, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "fox: ab12, snow: cd34", \
Version: v1.6.0"""


def test_a1111_parameters_parse_and_open_as_txt2img(registry, tmp_path):
    parsed = parse_parameters(A1111)
    assert parsed["prompt"] == "masterpiece, a red fox in the snow,\ndetailed fur"
    assert parsed["negative"] == "blurry, lowres,\nbad anatomy"
    assert parsed["settings"]["Lora hashes"] == "fox: ab12, snow: cd34"
    assert parsed["settings"]["Version"] == "v1.6.0"
    graph = graph_from_parameters(A1111, registry)
    assert validate(graph, registry) == []
    by_title = {n.title: n for n in graph.nodes.values()}
    sampler = by_title["Sampler"].values
    assert (sampler["sampler"], sampler["schedule"], sampler["steps"], sampler["cfg"]) == \
        ("dpmpp_2m", "karras", 28, 6.5)
    assert by_title["Noise"].values["seed"] == 3141592653
    assert (by_title["Empty Latent"].values["width"],
            by_title["Empty Latent"].values["height"]) == (512, 760)
    assert by_title["Load Checkpoint"].values["checkpoint"] == "v1-5-pruned-emaonly"
    assert by_title["Negative Prompt"].values["text"] == "blurry, lowres,\nbad anatomy"
    notes = " ".join(graph.metadata["a1111"]["notes"])
    assert "rounded down" in notes and "Lora hashes" in notes
    png = _png(tmp_path / "00001-3141592653.png", parameters=A1111)
    assert canonical(load_workflow(png, registry)) == canonical(graph)
    euler_a = graph_from_parameters("a cat\nSteps: 4, Sampler: Euler a, Seed: 1", registry)
    assert euler_a.nodes["6"].values["sampler"] == "euler_ancestral"
    sde = graph_from_parameters(
        "a cat\nSteps: 4, Sampler: DPM++ SDE, Schedule type: Beta, Seed: 1", registry)
    assert (sde.nodes["6"].values["sampler"], sde.nodes["6"].values["schedule"]) == \
        ("dpmpp_sde", "beta")
    assert sde.metadata["a1111"]["notes"] == []


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


def test_set_latent_noise_mask_maps_both_ways(registry):
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "LoadImage", "inputs": {"image": "mask.png", "upload": "image"}}
    doc["21"] = {"class_type": "SetLatentNoiseMask",
                 "inputs": {"samples": ["5", 0], "mask": ["20", 1]}}
    doc["3"]["inputs"]["latent_image"] = ["21", 0]
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.nodes["21"].type == "latent.set_noise_mask"
    assert graph.incoming("21")["mask"] == Edge("20", "mask", "21", "mask")
    prompt = to_comfy_api(graph, registry)
    assert prompt["21"]["inputs"] == {"samples": ["5", 0], "mask": ["20", 1]}


def test_inpaint_encode_and_model_sampling_map_both_ways(registry):
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}}
    doc["21"] = {"class_type": "VAEEncodeForInpaint",
                 "inputs": {"pixels": ["20", 0], "vae": ["4", 2], "mask": ["20", 1],
                            "grow_mask_by": 10}}
    doc["22"] = {"class_type": "ModelSamplingDiscrete",
                 "inputs": {"model": ["4", 0], "sampling": "v_prediction", "zsnr": True}}
    doc["3"]["inputs"]["latent_image"] = ["21", 0]
    doc["3"]["inputs"]["model"] = ["22", 0]
    graph = load_comfy(doc, "wf.json", registry)
    assert validate(graph, registry) == []
    assert graph.nodes["21"].type == "vae.encode_inpaint"
    assert graph.nodes["21"].values["grow_mask_by"] == 10
    assert graph.incoming("21")["mask"] == Edge("20", "mask", "21", "mask")
    assert (graph.nodes["22"].values["prediction"],
            graph.nodes["22"].values["zero_terminal_snr"]) == ("v_prediction", "on")
    assert graph.incoming("3")["model"] == Edge("22", "model", "3", "model")
    prompt = to_comfy_api(graph, registry)
    assert prompt["21"]["inputs"] == doc["21"]["inputs"]
    assert prompt["22"]["inputs"] == doc["22"]["inputs"]


def test_tiled_vae_decode_imports_as_vae_decode_in_tiles(registry):
    doc = comfy_docs.api()
    doc["8"] = {"class_type": "VAEDecodeTiled",
                "inputs": {"samples": ["3", 0], "vae": ["4", 2], "tile_size": 768,
                           "overlap": 64, "temporal_size": 64, "temporal_overlap": 8}}
    graph = load_comfy(doc, "api.json", registry)
    assert graph.nodes["8"].type == "vae.decode"
    assert (graph.nodes["8"].values["tiling"], graph.nodes["8"].values["tile_size"]) == \
        ("always", 768)
    assert validate(graph, registry) == []


def test_rescale_cfg_maps_both_ways_and_a_mixed_model_sampling_is_named(registry):
    doc = comfy_docs.api()
    doc["22"] = {"class_type": "RescaleCFG", "inputs": {"model": ["4", 0], "multiplier": 0.7}}
    doc["3"]["inputs"]["model"] = ["22", 0]
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.nodes["22"].type == "model.sampling"
    assert (graph.nodes["22"].values["prediction"], graph.nodes["22"].values["zero_terminal_snr"],
            graph.nodes["22"].values["cfg_rescale"]) == ("auto", "auto", 0.7)
    prompt = to_comfy_api(graph, registry)
    assert prompt["22"]["class_type"] == "RescaleCFG"
    assert prompt["22"]["inputs"] == doc["22"]["inputs"]
    graph.nodes["22"].values.update(prediction="v_prediction")  # and a rescale: two nodes
    with pytest.raises(ExportError, match=r"#22.*separate node"):
        to_comfy_api(graph, registry)


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
