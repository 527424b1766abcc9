"""Opening files of any format: ComfyUI PNGs and JSON, AUTOMATIC1111 PNG parameters."""

from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from app.engine.validation import validate
from app.interop.a1111 import graph_from_parameters, parse_parameters
from app.interop.comfy import load_comfy
from app.interop.open import open_workflow
from tests.interop import comfy_docs
from tests.interop.comfy_docs import canonical


def _png(path, **chunks: str):
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_comfy_pngs_and_json_files_open_through_open_workflow(registry, tmp_path):
    both = _png(tmp_path / "ComfyUI_00001_.png", prompt=json.dumps(comfy_docs.api()),
                workflow=json.dumps(comfy_docs.ui()))
    graph = open_workflow(both, registry)
    assert canonical(graph) == canonical(load_comfy(comfy_docs.api(), "x", registry))
    assert graph.nodes["9"].position == (1451.0, 189.0)  # layout from the UI chunk
    only_ui = _png(tmp_path / "ui.png", workflow=json.dumps(comfy_docs.ui()))
    assert open_workflow(only_ui, registry).metadata["comfyui"]["source_format"] == "comfyui-ui"
    api_file = tmp_path / "api.json"
    api_file.write_text(json.dumps(comfy_docs.api()))
    assert validate(open_workflow(api_file, registry), registry) == []


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
    assert by_title["Load Checkpoint"].values["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    assert by_title["Negative Prompt"].values["text"] == "blurry, lowres,\nbad anatomy"
    notes = " ".join(graph.metadata["a1111"]["notes"])
    assert "rounded down" in notes and "Lora hashes" in notes
    png = _png(tmp_path / "00001-3141592653.png", parameters=A1111)
    assert canonical(open_workflow(png, registry)) == canonical(graph)
    euler_a = graph_from_parameters("a cat\nSteps: 4, Sampler: Euler a, Seed: 1", registry)
    assert euler_a.nodes["6"].values["sampler"] == "euler_ancestral"
    sde = graph_from_parameters(
        "a cat\nSteps: 4, Sampler: DPM++ SDE, Schedule type: Beta, Seed: 1", registry)
    assert (sde.nodes["6"].values["sampler"], sde.nodes["6"].values["schedule"]) == \
        ("dpmpp_sde", "beta")
    assert sde.metadata["a1111"]["notes"] == []


@pytest.mark.parametrize("name", ["empty.json", "empty.png", "blank.json"])
def test_an_empty_file_says_so(registry, tmp_path, name):
    from app.engine.workflow import WorkflowError
    from app.interop.open import open_workflow

    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"  \n")
    with pytest.raises(WorkflowError, match=f"{name}: the file is empty"):
        open_workflow(path, registry)
