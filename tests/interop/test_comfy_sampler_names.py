"""What the probe found: ComfyUI's LCM example (ModelSamplingDiscrete "lcm" + KSampler lcm /
sgm_uniform) opens, runs and exports back; uni_pc, uni_pc_bh2, simple and ddim_uniform map
exactly (no "nearest" note) in both directions."""

from __future__ import annotations

import pytest

from app.engine.executor import Executor
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions
from tests.interop import comfy_docs


def lcm_doc() -> dict:
    """ComfyUI_examples' LCM LoRA workflow, without the LoRA: ModelSamplingDiscrete(lcm) on
    the model, KSampler(lcm, sgm_uniform, cfg 1.5)."""
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "ModelSamplingDiscrete", "_meta": {"title": "ModelSamplingDiscrete"},
                 "inputs": {"sampling": "lcm", "zsnr": False, "model": ["4", 0]}}
    doc["3"]["inputs"].update(model=["10", 0], sampler_name="lcm", scheduler="sgm_uniform",
                              steps=4, cfg=1.5)
    return doc


def test_lcm_example_opens_without_notes_and_exports_back(registry):
    graph = load_comfy(lcm_doc(), "lcm.json", registry)
    assert graph.metadata["comfyui"]["notes"] == []
    assert validate(graph, registry) == []
    assert graph.nodes["10"].values["prediction"] == "lcm"
    prompt = to_comfy_api(graph, registry)
    assert prompt["10"]["inputs"] == {"sampling": "lcm", "zsnr": False, "model": ["4", 0]}
    assert (prompt["3"]["inputs"]["sampler_name"], prompt["3"]["inputs"]["scheduler"]) == (
        "lcm", "sgm_uniform")


def test_lcm_example_runs(registry, tiny_sd_checkpoint, tmp_path):
    graph = load_comfy(lcm_doc(), "lcm.json", registry)
    graph.nodes["4"].values["checkpoint"] = str(tiny_sd_checkpoint)
    graph.nodes["5"].values.update(width=32, height=32)
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
    assert result.status == "ok", result.error


@pytest.mark.parametrize(("sampler", "schedule", "ours"), [
    ("uni_pc", "simple", ("unipc_bh1", "simple")),
    ("uni_pc_bh2", "ddim_uniform", ("unipc", "ddim_uniform")),
    ("ddim", "simple", ("ddim", "simple")),
])
def test_names_map_exactly_both_ways(registry, sampler, schedule, ours):
    doc = comfy_docs.api()
    doc["3"]["inputs"].update(sampler_name=sampler, scheduler=schedule)
    graph = load_comfy(doc, "api.json", registry)
    values = graph.nodes["3"].values
    assert (values["sampler"], values["schedule"]) == ours
    assert graph.metadata["comfyui"]["notes"] == []
    back = to_comfy_api(graph, registry)
    assert (back["3"]["inputs"]["sampler_name"], back["3"]["inputs"]["scheduler"]) == (
        sampler, schedule)
