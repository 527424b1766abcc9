"""ComfyUI's image/latent operations open (API and UI files, as ComfyUI saves them), run on
tiny models, and export back to ComfyUI classes whose required inputs and values ComfyUI's own
definitions accept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.validation import validate
from app.engine.workflow import to_document
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from node_api.context import RunOptions
from tests.interop import comfy_docs, imageops_docs

OURS = {
    "11": ("image.scale_to_total_pixels",
           {"method": "bilinear", "megapixels": 0.01, "resolution_steps": 8}),
    "12": ("image.pad_for_outpaint",
           {"left": 8, "top": 0, "right": 8, "bottom": 0, "feathering": 4}),
    "13": ("conditioning.inpaint_model", {"noise_mask": True}),
    "15": ("latent.composite", {"x": 8, "y": 8, "feather": 8}),
    "16": ("latent.composite_masked", {"x": 0, "y": 0, "resize_source": False}),
    "8": ("vae.decode", {"tiling": "always", "tile_size": 64, "overlap": 16}),
    "17": ("vae.encode", {"tiling": "always", "tile_size": 512, "overlap": 64}),
    "9": ("image.save_animated", {"format": "webp", "filename_prefix": "outpaint", "fps": 6.0,
                                  "lossless": False, "quality": 80, "method": 4}),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_ip2p import build_tiny_ip2p

    base = tmp_path_factory.mktemp("imageops")
    return {"tiny-inpaint": build_tiny_sd(base / "inpaint", inpainting=True),
            "tiny-ip2p": build_tiny_ip2p(base / "ip2p")}


@pytest.fixture()
def picture(tmp_path) -> Path:
    rgb = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    path = tmp_path / "picture.png"
    Image.fromarray(rgb, "RGB").save(path)
    return path


def _ready(doc: dict, models: dict[str, Path], picture: Path) -> dict:
    for item in doc.values():
        inputs = item["inputs"]
        if "ckpt_name" in inputs:
            inputs["ckpt_name"] = str(models[inputs["ckpt_name"]])
        if item["class_type"] == "LoadImage":
            inputs["image"] = str(picture)
    return doc


@pytest.mark.parametrize("form", ["api", "ui"])
def test_outpaint_workflow_maps_onto_our_nodes(registry, form):
    doc = imageops_docs.outpaint_api()
    graph = load_comfy(doc if form == "api" else imageops_docs.to_ui(doc), "outpaint.json",
                       registry)
    for node_id, (type_id, values) in OURS.items():
        assert graph.nodes[node_id].type == type_id
        assert values.items() <= graph.nodes[node_id].values.items(), node_id
    incoming = graph.incoming("3")
    assert (incoming["positive"].source, incoming["positive"].output) == ("13", "positive")
    assert (incoming["latent"].source, incoming["latent"].output) == ("13", "latent")
    assert graph.incoming("16")["mask"].output == "mask"
    assert validate(graph, registry) == []
    notes = graph.metadata["comfyui"]["notes"]
    assert any("VAEDecodeTiled" in n and "diffusers" in n for n in notes)


def test_ui_and_api_forms_give_the_same_graph(registry):
    for doc in (imageops_docs.outpaint_api(), imageops_docs.ip2p_api()):
        api = load_comfy(doc, "a.json", registry)
        ui = load_comfy(imageops_docs.to_ui(doc), "u.json", registry)
        assert comfy_docs.canonical(api)[0] == comfy_docs.canonical(ui)[0]


def _check_against_comfy_definitions(prompt: dict) -> None:
    for node_id, item in prompt.items():
        cls, inputs = item["class_type"], item["inputs"]
        if cls not in imageops_docs.REQUIRED:
            continue
        assert imageops_docs.REQUIRED[cls] <= set(inputs), (node_id, cls)
        for (combo_cls, name), allowed in imageops_docs.COMBOS.items():
            if combo_cls == cls:
                assert inputs[name] in allowed, (cls, name)
        for name, (lo, hi) in imageops_docs.RANGES.items():
            if name in inputs and not isinstance(inputs[name], list):
                assert lo <= inputs[name] <= hi, (cls, name, inputs[name])
        for value in inputs.values():
            if isinstance(value, list):
                assert value[0] in prompt  # links point at exported nodes


def test_export_back_gives_comfyuis_classes_and_values(registry):
    for doc in (imageops_docs.outpaint_api(), imageops_docs.ip2p_api()):
        graph = load_comfy(doc, "doc.json", registry)
        prompt = to_comfy_api(graph, registry)
        _check_against_comfy_definitions(prompt)
        for node_id, item in doc.items():
            expected = dict(item["inputs"])
            if "ckpt_name" in expected:  # named as ComfyUI lists it: with its extension
                expected["ckpt_name"] += ".safetensors"
            assert prompt[node_id]["class_type"] == item["class_type"]
            assert prompt[node_id]["inputs"] == expected, node_id
        assert load_comfy(prompt, "again.json", registry).nodes.keys() >= graph.nodes.keys()


def test_image_composite_masked_maps_both_ways(registry):
    doc = comfy_docs.api()
    doc["20"] = {"class_type": "ImageCompositeMasked",
                 "inputs": {"destination": ["8", 0], "source": ["8", 0], "x": 16, "y": 8,
                            "resize_source": True}}
    doc["9"]["inputs"]["images"] = ["20", 0]
    graph = load_comfy(doc, "api.json", registry)
    assert graph.nodes["20"].type == "image.composite_masked"
    assert graph.nodes["20"].values == {"x": 16, "y": 8, "resize_source": True}
    prompt = to_comfy_api(graph, registry)
    assert prompt["20"] == {**doc["20"], "_meta": prompt["20"]["_meta"]}


def test_what_comfyui_cannot_express_is_named(registry):
    graph = load_comfy(imageops_docs.ip2p_api(), "doc.json", registry)
    graph.nodes["9"].values["format"] = "gif"
    graph.nodes["11"].values["image_cfg"] = 1.5
    with pytest.raises(ExportError, match=r"(?s)GIF.*image_cfg 1|image_cfg 1.*GIF"):
        to_comfy_api(graph, registry)


def test_outpaint_workflow_runs_on_a_tiny_inpainting_model(registry, models, picture, tmp_path):
    doc = _ready(imageops_docs.outpaint_api(), models, picture)
    graph = load_comfy(doc, "outpaint.json", registry)
    options = RunOptions(output_dir=tmp_path / "out", workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    webp = tmp_path / "out" / "outpaint_00001.webp"
    with Image.open(webp) as saved:
        assert saved.format == "WEBP" and saved.size == (120, 104)  # 104x104 + 8 + 8 wide
        make = saved.getexif()[0x010F]
    assert make.startswith("workflow:") and json.loads(make[9:]) == options.workflow
    result = Executor(registry).run(graph, targets=["12", "13"])
    image, mask = result.outputs["12"]
    assert image.shape == (1, 104, 120, 3) and mask.shape == (1, 104, 120)
    latent = result.outputs["13"][2]
    assert latent.masked_image_latents is not None and latent.noise_mask is not None


def test_ip2p_workflow_samples_as_the_pipeline_does(registry, models, picture, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.edit_conditioning import instruct_pix2pix_conditioning
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Noise

    doc = _ready(imageops_docs.ip2p_api(), models, picture)
    graph = load_comfy(doc, "ip2p.json", registry)
    result = Executor(registry).run(graph, targets=["3", "9"], options=RunOptions(
        output_dir=tmp_path / "out", workflow=to_document(graph)))
    assert result.status == "ok", result.error
    model, clip, vae = load_checkpoint(models["tiny-ip2p"])
    image = torch.from_numpy(np.asarray(Image.open(picture), dtype=np.float32) / 255.0)[None]
    pos, neg, latent = instruct_pix2pix_conditioning(
        vae, image, encode_text(clip, "make it snow"), encode_text(clip, ""))
    expected = denoise(model, pos, neg, latent, Noise(9), steps=3, cfg=7.5).samples
    assert torch.equal(result.outputs["3"][0].samples, expected)
    with Image.open(tmp_path / "out" / "edit_00001.png") as saved:
        assert saved.format == "PNG" and json.loads(saved.text["workflow"])["nodes"]
