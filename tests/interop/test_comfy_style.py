"""ComfyUI's Flux Redux workflow (CLIPVisionLoader of a SigLIP tower, CLIPVisionEncode,
StyleModelLoader, StyleModelApply) opens as our nodes, exports back to the same prompt, and
runs on a tiny Flux: the image's tokens follow the prompt's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions


def _doc(checkpoint: str, siglip: str, redux: str, image: str) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "26": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0],
                                                        "guidance": 3.5}},
        "38": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": siglip}},
        "40": {"class_type": "LoadImage", "inputs": {"image": image}},
        "39": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["38", 0],
                                                            "image": ["40", 0],
                                                            "crop": "center"}},
        "41": {"class_type": "StyleModelLoader", "inputs": {"style_model_name": redux}},
        "42": {"class_type": "StyleModelApply",
               "inputs": {"conditioning": ["26", 0], "style_model": ["41", 0],
                          "clip_vision_output": ["39", 0], "strength": 0.8,
                          "strength_type": "multiply"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 16, "height": 16, "batch_size": 1}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": 2, "cfg": 1.0, "sampler_name": "euler",
                         "scheduler": "simple", "denoise": 1.0, "model": ["4", 0],
                         "positive": ["42", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0],
                                                    "filename_prefix": "redux"}},
    }


def test_the_classes_map_onto_ours_and_export_back(registry):
    doc = _doc("flux1-dev.safetensors", "sigclip_vision_patch14_384.safetensors",
               "flux1-redux-dev.safetensors", "ref.png")
    graph = load_comfy(doc, "redux.json", registry)
    assert graph.nodes["41"].type == "loaders.style_model"
    assert graph.nodes["41"].values == {"style_model": "flux1-redux-dev.safetensors"}
    assert graph.nodes["42"].type == "conditioning.style_model"
    assert graph.nodes["42"].values == {"strength": 0.8, "strength_type": "multiply"}
    assert {k: e.source for k, e in graph.incoming("42").items()} == {
        "conditioning": "26", "style_model": "41", "embedding": "39"}
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    for node_id in ("41", "42"):
        assert prompt[node_id]["class_type"] == doc[node_id]["class_type"]
        assert prompt[node_id]["inputs"] == doc[node_id]["inputs"]
    old = dict(doc)  # files from before strength existed
    old["42"] = {"class_type": "StyleModelApply", "inputs": {
        k: v for k, v in doc["42"]["inputs"].items() if not k.startswith("strength")}}
    values = load_comfy(old, "old.json", registry).nodes["42"].values
    assert values == {"strength": 1.0, "strength_type": "multiply"}
    doc["42"]["inputs"]["strength_type"] = "add"
    with pytest.raises(WorkflowError, match="strength_type"):
        load_comfy(doc, "bad.json", registry)


def test_the_redux_workflow_runs_on_a_tiny_flux(registry, tmp_path):
    from pipelines.testing.tiny_flux import build_tiny_flux
    from pipelines.testing.tiny_if import T5_WIDTH
    from pipelines.testing.tiny_redux import build_tiny_redux, build_tiny_siglip

    flux = build_tiny_flux(tmp_path / "flux")
    siglip = build_tiny_siglip(tmp_path / "siglip")
    redux = build_tiny_redux(tmp_path / "redux.safetensors", text_width=T5_WIDTH)
    Image.fromarray(np.full((40, 40, 3), 200, dtype=np.uint8)).save(tmp_path / "ref.png")
    graph = load_comfy(_doc(str(flux), str(siglip), str(redux), str(tmp_path / "ref.png")),
                       "redux.json", registry)
    result = Executor(registry).run(graph, targets=["26", "42", "9"],
                                    options=RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "ok", result.error
    prompt, styled = result.outputs["26"][0], result.outputs["42"][0]
    assert styled.embeds.shape[1] == prompt.embeds.shape[1] + 4  # 4 SigLIP tokens
    assert (styled.embeds[:, : prompt.embeds.shape[1]] == prompt.embeds).all()
    assert len(result.files) == 1
