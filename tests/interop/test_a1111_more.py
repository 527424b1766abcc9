"""AUTOMATIC1111 infotexts beyond plain txt2img (LoRA tags, hires fix, clip skip, VAE, ENSD,
extension fields) and JSON parameters (Fooocus, SwarmUI), as those tools write them."""

from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.a1111 import graph_from_parameters
from app.interop.a1111_chain import CLIP_LAYER_NODE
from app.interop.comfy_export import to_comfy_api
from app.interop.open import open_workflow
from node_api.declaration import Int, Link, NodeSpec, Output
from node_api.ports import CLIP

HIRES = (
    "masterpiece, best quality, 1girl, <lora:add_detail:0.6>, city street at night "
    "<lora:film_grain:0.4:0.2>\n"
    "Negative prompt: (worst quality:1.4), easynegative\n"
    "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
    "Size: 512x768, Model hash: 7f96a1a9ca, Model: dreamshaper_8, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.45, Clip skip: 2, "
    "ENSD: 31337, Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent (nearest-exact), "
    'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1, '
    'Resize Mode: Crop and Resize, Processor Res: 512", ADetailer model: face_yolov8n.pt, '
    "ADetailer confidence: 0.3, ADetailer version: 23.11.1, "
    'Lora hashes: "add_detail: 7c6bad76eb54, film_grain: 1a2b3c4d5e6f", Version: v1.7.0'
)


def _by_title(graph):
    return {n.title: n for n in graph.nodes.values()}


def test_lora_tags_hires_fix_vae_and_dropped_fields(registry):
    graph = graph_from_parameters(HIRES, registry)
    nodes = _by_title(graph)
    assert nodes["Positive Prompt"].values["text"] == (
        "masterpiece, best quality, 1girl, city street at night")
    first, second = nodes["LoRA add_detail"], nodes["LoRA film_grain"]
    assert (first.values["lora"], first.values["strength_model"],
            first.values["strength_clip"]) == ("add_detail.safetensors", 0.6, 0.6)
    assert (second.values["strength_model"], second.values["strength_clip"]) == (0.2, 0.4)
    incoming = graph.incoming
    assert incoming(second.id)["model"].source == first.id
    assert incoming(first.id)["model"].source == "1" and incoming(first.id)["clip"].source == "1"
    assert incoming("6")["model"].source == second.id
    # the hires pass: latent upscale to 2x, a second sampler at the denoising strength
    upscale, hires = nodes["Hires Upscale"], nodes["Hires Sampler"]
    assert (upscale.values["method"], upscale.values["factor"]) == ("nearest-exact", 2.0)
    assert (hires.values["steps"], hires.values["denoise"], hires.values["sampler"],
            hires.values["schedule"]) == (15, 0.45, "dpmpp_2m", "karras")
    assert incoming(hires.id)["latent"].source == upscale.id
    assert incoming(hires.id)["noise"].source == "5" and incoming(hires.id)["model"].source \
        == second.id
    assert incoming("7")["latent"].source == hires.id
    vae = nodes["Load VAE"]
    assert vae.values["vae"] == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert incoming("7")["vae"].source == vae.id
    notes = graph.metadata["a1111"]["notes"]
    assert ("not reproduced here: ControlNet (ControlNet 0); ADetailer (ADetailer model, "
            "ADetailer confidence, ADetailer version)") in notes
    assert not any("ENSD" in n for n in notes)  # DPM++ 2M adds no noise while sampling
    if CLIP_LAYER_NODE not in registry:
        assert "Clip skip 2 is not supported here yet; ignored" in notes
    assert validate(graph, registry) == []


def _with_clip_layer(registry):
    if CLIP_LAYER_NODE in registry:
        return registry
    return registry.with_specs([NodeSpec(
        type_id=CLIP_LAYER_NODE, title="CLIP Set Last Layer", category="conditioning",
        description="", version=1,
        inputs=(Link("clip", CLIP), Int("stop_at_clip_layer", -1, min=-24, max=-1)),
        outputs=(Output("clip", CLIP),), func=lambda ctx, clip, stop_at_clip_layer: clip)])


def test_clip_skip_becomes_clip_set_last_layer_after_the_loras(registry):
    registry = _with_clip_layer(registry)
    graph = graph_from_parameters(HIRES, registry)
    nodes = _by_title(graph)
    layer = nodes["Clip skip 2"]
    assert (layer.type, layer.values["stop_at_clip_layer"]) == (CLIP_LAYER_NODE, -2)
    assert graph.incoming(layer.id)["clip"].source == nodes["LoRA film_grain"].id
    assert graph.incoming("2")["clip"].source == layer.id
    assert graph.incoming("3")["clip"].source == layer.id
    assert validate(graph, registry) == []


def test_hires_with_an_image_upscaler_other_spelling_and_ensd(registry):
    text = ("a lighthouse at dawn\nSteps: 20, Sampler: Euler a, CFG scale: 6, Seed: 5, "
            "Size: 512x512, Model: sd15, Denoising Strength: 0.3, Hires resize: 1024x1280, "
            "Hires upscaler: R-ESRGAN 4x+, ENSD: 31337, Tiled Diffusion: \"{'Method': "
            "'MultiDiffusion'}\", Version: v1.9.4")
    graph = graph_from_parameters(text, registry)
    nodes = _by_title(graph)
    loader, resize, hires = nodes["R-ESRGAN 4x+"], nodes["Hires Resize"], nodes["Hires Sampler"]
    assert loader.values["model"] == "RealESRGAN_x4plus.pth"
    assert (resize.values["width"], resize.values["height"]) == (1024, 1280)
    assert graph.incoming(resize.id)["image"].source == nodes["Hires Upscaler"].id
    encode = nodes["Encode for Hires"]
    assert graph.incoming(hires.id)["latent"].source == encode.id
    assert (hires.values["denoise"], hires.values["steps"]) == (0.3, 20)
    notes = graph.metadata["a1111"]["notes"]
    assert graph.nodes["5"].values["step_seed_delta"] == 31337  # reproduced, not noted
    assert not any("ENSD" in n for n in notes)
    assert "not reproduced here: Tiled Diffusion" in notes
    assert validate(graph, registry) == []


FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion",
    "base_model_hash": "aeb7e9e689",
    "full_negative_prompt": ["(worst quality, low quality:1.4)", "blurry"],
    "full_prompt": ["a cat sitting on a windowsill", "cinematic, highly detailed"],
    "guidance_scale": 4, "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]],
    "metadata_scheme": "fooocus", "negative_prompt": "", "performance": "Speed",
    "prompt": "a cat sitting on a windowsill", "refiner_model": "None", "refiner_switch": 0.5,
    "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
    "seed": "1234567", "sharpness": 2, "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']", "vae": "Default (model)",
    "version": "Fooocus v2.5.5",
}


def test_a_fooocus_json_parameters_chunk_is_read_not_made_the_prompt(registry, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps(FOOOCUS))
    info.add_text("fooocus_scheme", "fooocus")
    path = tmp_path / "fooocus.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    graph = open_workflow(path, registry)
    nodes = _by_title(graph)
    assert nodes["Positive Prompt"].values["text"] == (
        "a cat sitting on a windowsill, cinematic, highly detailed")
    assert nodes["Negative Prompt"].values["text"] == "(worst quality, low quality:1.4), blurry"
    sampler = nodes["Sampler"].values
    assert (sampler["sampler"], sampler["schedule"], sampler["steps"], sampler["cfg"]) == (
        "dpmpp_2m_sde", "karras", 30, 4.0)
    assert nodes["Noise"].values["seed"] == 1234567
    assert (nodes["Empty Latent"].values["width"], nodes["Empty Latent"].values["height"]) == (
        1152, 896)
    assert nodes["Load Checkpoint"].values["checkpoint"] == "juggernautXL_v8Rundiffusion.safetensors"
    lora = nodes["LoRA sd_xl_offset_example-lora_1.0"]
    assert lora.values["strength_model"] == 0.1
    assert "Load VAE" not in nodes  # "Default (model)"
    assert graph.metadata["a1111"]["tool"] == "Fooocus"
    notes = graph.metadata["a1111"]["notes"]
    assert ("Fooocus settings not reproduced here: adm_guidance, performance, refiner_switch, "
            "sharpness, styles") in notes
    assert validate(graph, registry) == []


def test_swarmui_json_broken_json_and_bracketed_prompts(registry):
    swarm = {"sui_image_params": {
        "prompt": "a red fox", "negativeprompt": "", "model": "Flux/flux1-dev-fp8",
        "seed": 305223794, "steps": 25, "cfgscale": 1.0, "aspectratio": "1:1", "width": 1024,
        "height": 1024, "sampler": "euler", "scheduler": "normal", "vae": "ae.sft",
        "swarm_version": "0.9.1.1"}}
    graph = graph_from_parameters(json.dumps(swarm), registry)
    nodes = _by_title(graph)
    assert nodes["Positive Prompt"].values["text"] == "a red fox"
    assert nodes["Load Checkpoint"].values["checkpoint"] == "Flux/flux1-dev-fp8.safetensors"
    assert nodes["Load VAE"].values["vae"] == "ae.sft"
    assert "SwarmUI settings not reproduced here: aspectratio" in graph.metadata["a1111"]["notes"]
    with pytest.raises(WorkflowError, match="parameters"):  # JSON, but broken: one line
        graph_from_parameters('{"prompt": "a cat", ', registry)
    # brackets are A1111's prompt-editing syntax, not JSON: still a prompt
    plain = graph_from_parameters("[cat:dog:0.5]\nSteps: 4, Seed: 1", registry)
    assert plain.nodes["2"].values["text"] == "[cat:dog:0.5]"


def test_a1111_round_trips_export_real_file_names(registry):
    graph = graph_from_parameters(HIRES, registry)
    prompt = to_comfy_api(graph, registry)
    by_class: dict[str, list] = {}
    for item in prompt.values():
        by_class.setdefault(item["class_type"], []).append(item["inputs"])
    assert by_class["CheckpointLoaderSimple"][0]["ckpt_name"] == "dreamshaper_8.safetensors"
    assert sorted(i["lora_name"] for i in by_class["LoraLoader"]) == [
        "add_detail.safetensors", "film_grain.safetensors"]
    assert by_class["VAELoader"][0]["vae_name"] == "vae-ft-mse-840000-ema-pruned.safetensors"


def test_damaged_json_parameters_open_or_fail_in_one_line(registry):
    import random

    from tests.interop.test_comfy_files import _mutations

    rng = random.Random(3)
    for doc in (FOOOCUS, {"sui_image_params": {"prompt": "a", "seed": 1, "width": 8}}):
        for damaged in _mutations(doc, rng, 200):
            try:
                graph = graph_from_parameters(json.dumps(damaged), registry)
            except WorkflowError as exc:
                assert "\n" not in str(exc)
            else:
                assert "{" not in graph.nodes["2"].values["text"][:1]  # never the JSON itself
