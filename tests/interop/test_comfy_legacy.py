"""Core class names ComfyUI deprecated or renamed: DiffusersLoader opens a diffusers folder as
our Load Checkpoint (with a note saying where the folder is looked up), and older files'
"ConditioningAverage " (trailing space) as Conditioning Average."""

from __future__ import annotations

from app.engine.executor import Executor
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api


def test_diffusers_loader_opens_a_diffusers_folder(registry, tiny_sd_checkpoint):
    doc = {"1": {"class_type": "DiffusersLoader", "inputs": {"model_path": str(tiny_sd_checkpoint)}},
           "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}}}
    graph = load_comfy(doc, "diffusers.json", registry)
    assert graph.nodes["1"].type == "loaders.checkpoint"
    assert graph.nodes["1"].values["checkpoint"] == str(tiny_sd_checkpoint)
    assert any("DiffusersLoader" in n for n in graph.metadata["comfyui"]["notes"])
    run = Executor(registry).run(graph, targets=["2"])
    assert run.status == "ok", run.error
    assert to_comfy_api(graph, registry)["1"]["class_type"] == "CheckpointLoaderSimple"


def test_the_old_conditioning_average_name(registry):
    doc = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
           "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["1", 1]}},
           "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "b", "clip": ["1", 1]}},
           "4": {"class_type": "ConditioningAverage ", "inputs": {
               "conditioning_to": ["2", 0], "conditioning_from": ["3", 0],
               "conditioning_to_strength": 0.25}}}
    graph = load_comfy(doc, "old.json", registry)
    assert graph.nodes["4"].type == "conditioning.average"
    assert graph.nodes["4"].values == {"conditioning_to_strength": 0.25}
    assert graph.incoming("4")["conditioning_from"].source == "3"
    assert to_comfy_api(graph, registry)["4"]["class_type"] == "ConditioningAverage"
