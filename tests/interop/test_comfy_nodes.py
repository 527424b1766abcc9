"""Single ComfyUI node classes that map both ways: upscalers, LoRA/VAE loaders, masks,
inpainting, model sampling, tiled VAE decode."""

from __future__ import annotations

import pytest

from app.engine.graph import Edge
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import comfy_docs


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
