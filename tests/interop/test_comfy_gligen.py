"""ComfyUI's GLIGENLoader and GLIGENTextBoxApply open as our Load GLIGEN and GLIGEN Textbox
Apply, export back to the same prompt, and run: a plain SD 1.x checkpoint with the GLIGEN file
samples as the GLIGEN checkpoint with the same boxes (no file) does."""

from __future__ import annotations

import pytest
import torch

from app.engine.executor import Executor
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api


def _doc(checkpoint: str, gligen: str = "gligen_sd14_textbox_pruned.safetensors") -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat and a dog",
                                                         "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "10": {"class_type": "GLIGENLoader", "inputs": {"gligen_name": gligen}},
        "11": {"class_type": "GLIGENTextBoxApply",
               "inputs": {"conditioning_to": ["6", 0], "clip": ["4", 1],
                          "gligen_textbox_model": ["10", 0], "text": "a cat", "width": 32,
                          "height": 24, "x": 8, "y": 16}},
        "12": {"class_type": "GLIGENTextBoxApply",
               "inputs": {"conditioning_to": ["11", 0], "clip": ["4", 1],
                          "gligen_textbox_model": ["10", 0], "text": "a dog", "width": 24,
                          "height": 64, "x": 40, "y": 0}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 1, "steps": 3, "cfg": 7.0, "sampler_name": "euler",
                         "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                         "positive": ["12", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "9": {"class_type": "SaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "g"}},
    }


def test_the_classes_map_onto_ours_and_export_back(registry):
    doc = _doc("sd14.safetensors")
    graph = load_comfy(doc, "gligen.json", registry)
    assert graph.nodes["10"].type == "loaders.gligen"
    assert graph.nodes["10"].values == {"gligen": "gligen_sd14_textbox_pruned.safetensors"}
    assert graph.nodes["11"].type == "conditioning.gligen_textbox"
    assert graph.nodes["11"].values == {"text": "a cat", "width": 32, "height": 24, "x": 8,
                                        "y": 16, "steps": 1.0}
    assert {k: e.source for k, e in graph.incoming("12").items()} == {
        "conditioning": "11", "clip": "4", "gligen": "10"}
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    for node_id in ("10", "11", "12"):
        assert prompt[node_id]["class_type"] == doc[node_id]["class_type"]
        assert prompt[node_id]["inputs"] == doc[node_id]["inputs"]
    graph.nodes["12"].values["steps"] = 0.3
    with pytest.raises(ExportError, match="every step"):
        to_comfy_api(graph, registry)


def test_a_gligen_file_on_a_plain_checkpoint_runs_as_the_gligen_checkpoint(registry, tmp_path):
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_gligen import build_tiny_gligen, save_comfy_gligen_file

    gligen_model = build_tiny_gligen(tmp_path / "tiny-gligen")
    plain = build_tiny_sd(tmp_path / "tiny-sd")
    file = save_comfy_gligen_file(gligen_model, tmp_path / "gligen.safetensors")
    with_file = load_comfy(_doc(str(plain), str(file)), "a.json", registry)
    result = Executor(registry).run(with_file, targets=["3"])
    assert result.status == "ok", result.error
    # the GLIGEN checkpoint needs no file: the same boxes without the loader's link
    doc = _doc(str(gligen_model), str(file))
    for node_id in ("11", "12"):
        del doc[node_id]["inputs"]["gligen_textbox_model"]
    del doc["10"]
    builtin = Executor(registry).run(load_comfy(doc, "b.json", registry), targets=["3"])
    assert builtin.status == "ok", builtin.error
    ours, theirs = result.outputs["3"][0].samples, builtin.outputs["3"][0].samples
    assert torch.equal(ours, theirs)
    doc = _doc(str(plain), str(file))
    del doc["11"]["inputs"]["gligen_textbox_model"], doc["12"]["inputs"]["gligen_textbox_model"]
    del doc["10"]
    failed = Executor(registry).run(load_comfy(doc, "c.json", registry), targets=["3"])
    assert failed.status == "failed" and "GLIGEN model" in failed.error
