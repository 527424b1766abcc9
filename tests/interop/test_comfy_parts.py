"""ComfyUI workflows of models kept in parts, as ComfyUI saves them: an SD3.5 UI file
(UNETLoader, TripleCLIPLoader, VAELoader, ModelSamplingSD3, CLIPTextEncodeSD3,
EmptySD3LatentImage, KSampler euler/sgm_uniform) and a Flux API file (UNETLoader fp8, 
DualCLIPLoader type flux with an fp8 T5, ae VAE, FluxGuidance, ModelSamplingFlux, KSampler
euler/simple) open, map, run on tiny models named as in the files, and export back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions

WORKFLOWS = Path(__file__).parent / "workflows"


def _doc(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sd35_models(tmp_path_factory):
    from safetensors.torch import load_file, save_file

    from pipelines.testing.tiny_sd3 import build_tiny_sd3

    root = tmp_path_factory.mktemp("comfy-sd35")
    tiny = build_tiny_sd3(root / "build", "sd35")
    for sub in ("unet", "text_encoders", "vae"):
        (root / sub).mkdir()
    shutil.copy(tiny.transformer, root / "unet" / "sd3.5_medium.safetensors")
    shutil.copy(tiny.clip_l, root / "text_encoders" / "clip_l.safetensors")
    shutil.copy(tiny.clip_g, root / "text_encoders" / "clip_g.safetensors")
    shutil.copy(tiny.t5xxl, root / "text_encoders" / "t5xxl_fp16.safetensors")
    shutil.copytree(tiny.t5xxl.parent / "t5_tokenizer", root / "t5_tokenizer")
    vae = {k: v for k, v in load_file(str(tiny.file)).items()
           if k.startswith("first_stage_model.")}
    save_file(vae, str(root / "vae" / "sd3.5_vae.safetensors"))
    return root


@pytest.fixture(scope="module")
def flux_models(tmp_path_factory):
    """ComfyUI's Flux files: diffusion_models/ (fp8 BFL transformer), text_encoders/ (clip_l,
    an fp8 T5, the tokenizers beside them), vae/ae.safetensors."""
    from diffusers import FluxTransformer2DModel
    from safetensors.torch import load_file, save_file

    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.convert import vae_to_original
    from pipelines.testing.tiny_flux import (
        build_tiny_flux,
        write_text_encoder_files,
        write_transformer_file,
    )

    root = tmp_path_factory.mktemp("comfy-flux")
    folder = build_tiny_flux(root / "build" / "flux-dev", "dev")
    transformer = FluxTransformer2DModel.from_pretrained(str(folder / "transformer"))
    write_transformer_file(transformer, root / "diffusion_models" / "flux1-dev-fp8.safetensors",
                           dtype=torch.float8_e4m3fn)
    _, t5 = write_text_encoder_files(root / "text_encoders", folder)
    fp8 = {k: v.to(torch.float8_e4m3fn) for k, v in load_file(str(t5)).items()}
    save_file(fp8, str(t5.parent / "t5xxl_fp8_e4m3fn.safetensors"))
    vae = load_checkpoint(folder)[2].vae
    (root / "vae").mkdir()
    save_file({k: v.contiguous() for k, v in vae_to_original(vae.state_dict(), prefix="").items()},
              str(root / "vae" / "ae.safetensors"))
    return root


def _run(registry, graph, models: Path, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(models / "none.toml"))
    latent = next(n for n in graph.nodes.values() if n.type == "latent.empty")
    latent.values.update(width=32, height=32)
    next(n for n in graph.nodes.values() if n.type == "sampling.sampler").values["steps"] = 2
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    assert len(result.files) == 1


def test_sd35_ui_workflow_maps_runs_and_exports_back(registry, sd35_models, monkeypatch,
                                                     tmp_path):
    graph = load_comfy(_doc("sd35_parts_ui.json"), "sd35_parts_ui.json", registry)
    by_type = {n.type: n.values for n in graph.nodes.values()}
    assert by_type["loaders.diffusion_model"] == {"unet_name": "sd3.5_medium.safetensors",
                                                  "weight_dtype": "default"}
    assert by_type["loaders.text_encoders"] == {
        "clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
        "clip_name3": "t5xxl_fp16.safetensors", "type": "sd3"}
    assert by_type["conditioning.text_encode_sd3"] == {
        "clip_l": "blurry", "clip_g": "blurry", "t5xxl": "blurry, low quality"}
    assert by_type["model.sampling_sd3"] == {"shift": 3}
    assert by_type["latent.empty"] == {"width": 1024, "height": 1024, "batch_size": 1}
    assert by_type["sampling.sampler"]["schedule"] == "sgm_uniform"
    assert graph.metadata["comfyui"]["notes"] == []
    back = {v["class_type"]: v["inputs"] for v in to_comfy_api(graph, registry).values()}
    assert back["UNETLoader"] == {"unet_name": "sd3.5_medium.safetensors",
                                  "weight_dtype": "default"}
    assert back["TripleCLIPLoader"]["clip_name3"] == "t5xxl_fp16.safetensors"
    assert back["CLIPTextEncodeSD3"]["t5xxl"] == "blurry, low quality"
    assert back["ModelSamplingSD3"]["shift"] == 3
    assert back["KSampler"]["model"] == ["4", 0]
    _run(registry, graph, sd35_models, monkeypatch, tmp_path)


def test_flux_api_workflow_of_part_files_maps_and_runs(registry, flux_models, monkeypatch,
                                                       tmp_path):
    graph = load_comfy(_doc("flux_parts_api.json"), "flux_parts_api.json", registry)
    by_type = {n.type: n.values for n in graph.nodes.values()}
    assert by_type["loaders.diffusion_model"]["weight_dtype"] == "fp8_e4m3fn"
    assert by_type["loaders.text_encoders"] == {
        "clip_name1": "t5xxl_fp8_e4m3fn.safetensors", "clip_name2": "clip_l.safetensors",
        "clip_name3": "", "type": "flux"}
    notes = graph.metadata["comfyui"]["notes"]
    assert any("fp8_e4m3fn_fast" in n for n in notes)
    assert not any("'simple'" in n for n in notes)  # ComfyUI's simple is ours exactly
    assert {n.values.get("schedule") for n in graph.nodes.values()} >= {"simple"}
    back = {v["class_type"]: v["inputs"] for v in to_comfy_api(graph, registry).values()}
    assert back["DualCLIPLoader"] == {"clip_name1": "t5xxl_fp8_e4m3fn.safetensors",
                                      "clip_name2": "clip_l.safetensors", "type": "flux",
                                      "device": "default"}
    _run(registry, graph, flux_models, monkeypatch, tmp_path)


def test_aura_flow_shift_and_single_clip_loader_map_with_notes(registry):
    api = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "x.safetensors",
                                                     "weight_dtype": "default"}},
        "2": {"class_type": "ModelSamplingAuraFlow", "inputs": {"model": ["1", 0],
                                                                "shift": 1.73}},
        "3": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5xxl.safetensors",
                                                     "type": "sd3", "device": "cpu"}},
    }
    graph = load_comfy(api, "aura.json", registry)
    assert graph.nodes["2"].type == "model.sampling_sd3" and graph.nodes["2"].values == {
        "shift": 1.73}
    assert graph.nodes["3"].values == {"clip_name1": "t5xxl.safetensors", "clip_name2": "",
                                       "clip_name3": "", "type": "sd3"}
    notes = " ".join(graph.metadata["comfyui"]["notes"])
    assert "ModelSamplingAuraFlow" in notes and "device 'cpu'" in notes
    back = {v["class_type"]: v["inputs"] for v in to_comfy_api(graph, registry).values()}
    assert back["CLIPLoader"]["clip_name"] == "t5xxl.safetensors"
    assert back["ModelSamplingSD3"] == {"shift": 1.73, "model": ["1", 0]}


def test_a_text_encoder_type_we_lack_is_noted_and_named_by_validation(registry):
    from app.engine.validation import validate

    api = {"1": {"class_type": "CLIPLoader",
                 "inputs": {"clip_name": "umt5_xxl.safetensors", "type": "wan"}}}
    graph = load_comfy(api, "wan.json", registry)
    assert any("type 'wan' is not supported" in n for n in graph.metadata["comfyui"]["notes"])
    problems = [p for p in validate(graph, registry) if p.node_id == "1"]
    from pipelines.families import text_file_types

    assert {"sd3", "flux", "flux_schnell"} <= set(text_file_types())
    assert [(p.field, p.message) for p in problems] == [
        ("type", f"'wan' is not one of: {', '.join(text_file_types())}")]


def test_schnell_text_encoders_export_as_comfyuis_flux_type(registry):
    api = {"1": {"class_type": "DualCLIPLoader",
                 "inputs": {"clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl.safetensors",
                            "type": "flux", "device": "default"}}}
    graph = load_comfy(api, "flux.json", registry)
    assert graph.nodes["1"].values["type"] == "flux"  # ComfyUI's flux opens as dev's 512
    graph.nodes["1"].values["type"] = "flux_schnell"
    back = to_comfy_api(graph, registry)
    assert back["1"]["class_type"] == "DualCLIPLoader" and back["1"]["inputs"]["type"] == "flux"


@pytest.mark.parametrize("cls,comfy_type,ours", [("CLIPLoader", "stable_diffusion", "sd1"),
                                                  ("DualCLIPLoader", "sdxl", "sdxl")])
def test_sd1_and_sdxl_text_encoder_types_map_both_ways(registry, cls, comfy_type, ours):
    from app.engine.validation import validate

    names = {"CLIPLoader": {"clip_name": "clip_l.safetensors"},
             "DualCLIPLoader": {"clip_name1": "clip_l.safetensors",
                                "clip_name2": "clip_g.safetensors"}}[cls]
    api = {"1": {"class_type": cls, "inputs": {**names, "type": comfy_type,
                                               "device": "default"}}}
    graph = load_comfy(api, "clip.json", registry)
    assert graph.nodes["1"].values["type"] == ours
    assert not [p for p in validate(graph, registry) if p.field == "type"]
    back = to_comfy_api(graph, registry)
    assert back["1"]["class_type"] == cls and back["1"]["inputs"]["type"] == comfy_type
