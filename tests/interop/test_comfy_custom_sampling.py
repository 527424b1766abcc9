"""ComfyUI's split sampling (RandomNoise, DisableNoise, KSamplerSelect, the schedulers,
SplitSigmas, FlipSigmas, the guiders, SamplerCustom, SamplerCustomAdvanced) and
KSamplerAdvanced base + refiner pairs: workflow files written as ComfyUI saves them (API and
UI format, tests/interop/workflows/) open without notes, export back to the same classes and
widget values, and run on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.executor import Executor
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from node_api.context import RunOptions

WORKFLOWS = Path(__file__).parent / "workflows"
FILES = ["flux_custom_sampling_api.json", "flux_custom_sampling_ui.json",
         "sdxl_base_refiner_api.json", "sdxl_base_refiner_ui.json", "sd_custom_sampling_api.json"]
# ComfyUI's required inputs of the classes (comfy_extras/nodes_custom_sampler.py, nodes.py)
REQUIRED = {
    "RandomNoise": {"noise_seed"}, "DisableNoise": set(), "KSamplerSelect": {"sampler_name"},
    "BasicScheduler": {"model", "scheduler", "steps", "denoise"},
    "KarrasScheduler": {"steps", "sigma_max", "sigma_min", "rho"},
    "ExponentialScheduler": {"steps", "sigma_max", "sigma_min"},
    "SDTurboScheduler": {"model", "steps", "denoise"}, "SplitSigmas": {"sigmas", "step"},
    "FlipSigmas": {"sigmas"}, "BasicGuider": {"model", "conditioning"},
    "CFGGuider": {"model", "positive", "negative", "cfg"},
    "DualCFGGuider": {"model", "cond1", "cond2", "negative", "cfg_conds",
                      "cfg_cond2_negative", "style"},
    "SamplerCustom": {"model", "add_noise", "noise_seed", "cfg", "positive", "negative",
                      "sampler", "sigmas", "latent_image"},
    "SamplerCustomAdvanced": {"noise", "guider", "sampler", "sigmas", "latent_image"},
    "KSamplerAdvanced": {"model", "add_noise", "noise_seed", "steps", "cfg", "sampler_name",
                         "scheduler", "positive", "negative", "latent_image", "start_at_step",
                         "end_at_step", "return_with_leftover_noise"},
}


def _doc(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text())


@pytest.mark.parametrize("name", FILES)
def test_workflow_opens_without_notes_and_validates(registry, name):
    graph = load_comfy(_doc(name), name, registry)
    assert graph.metadata["comfyui"]["notes"] == []
    assert validate(graph, registry) == []
    types = {n.type for n in graph.nodes.values()}
    if name.startswith("flux"):
        assert {"sampling.noise", "sampling.sampler_select", "sampling.basic_scheduler",
                "sampling.basic_guider", "sampling.sampler_custom_advanced"} <= types
        scheduler = next(n for n in graph.nodes.values() if n.type == "sampling.basic_scheduler")
        assert scheduler.values == {"scheduler": "simple", "steps": 20, "denoise": 1.0}
    if name.startswith("sdxl"):
        base, refiner = (graph.nodes[i].values for i in ("10", "11"))
        assert (base["start_at_step"], base["end_at_step"], base["add_noise"],
                base["return_with_leftover_noise"]) == (0, 20, True, True)
        assert (refiner["start_at_step"], refiner["end_at_step"], refiner["add_noise"],
                refiner["return_with_leftover_noise"]) == (20, 10000, False, False)


@pytest.mark.parametrize("name", [f for f in FILES if f.endswith("_api.json")])
def test_export_gives_back_the_same_prompt(registry, name):
    doc = _doc(name)
    prompt = to_comfy_api(load_comfy(doc, name, registry), registry)
    assert set(prompt) == set(doc)
    for node_id, item in doc.items():
        assert prompt[node_id]["class_type"] == item["class_type"]
        assert prompt[node_id]["inputs"] == item["inputs"], node_id
        assert REQUIRED.get(item["class_type"], set()) <= set(prompt[node_id]["inputs"])


def test_ui_and_api_forms_give_the_same_prompt(registry):
    for stem in ("flux_custom_sampling", "sdxl_base_refiner"):
        api = to_comfy_api(load_comfy(_doc(f"{stem}_api.json"), "a", registry), registry)
        ui = to_comfy_api(load_comfy(_doc(f"{stem}_ui.json"), "u", registry), registry)
        assert {k: (v["class_type"], v["inputs"]) for k, v in api.items()} == \
            {k: (v["class_type"], v["inputs"]) for k, v in ui.items()}


def test_disabled_noise_cannot_feed_a_plain_ksampler(registry, tmp_path):
    doc = _doc("sd_custom_sampling_api.json")
    graph = load_comfy(doc, "sd.json", registry)
    graph.add("sampling.sampler", registry=registry, node_id="90", title="Plain")
    for name, source, output in (("model", "4", "model"), ("positive", "6", "conditioning"),
                                 ("negative", "7", "conditioning"), ("latent", "5", "latent"),
                                 ("noise", "26", "noise")):
        graph.connect(source, output, "90", name)
    with pytest.raises(ExportError, match="DisableNoise|Disable Noise"):
        to_comfy_api(graph, registry)


def _run(registry, graph, out: Path, values: dict) -> None:
    for node in graph.nodes.values():
        node.values.update(values.get(node.type, {}))
    result = Executor(registry).run(graph, options=RunOptions(output_dir=out))
    assert result.status == "ok", result.error
    saves = sum(1 for n in graph.nodes.values() if n.type == "image.save")
    assert len(result.files) == saves and all(Path(f).is_file() for f in result.files)


def test_flux_workflows_run_on_a_tiny_flux(registry, tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux

    root = tmp_path_factory.mktemp("comfy-flux-custom")
    folder = build_tiny_flux(root / "flux")
    for name in ("flux_custom_sampling_api.json", "flux_custom_sampling_ui.json"):
        graph = load_comfy(_doc(name), name, registry)
        _run(registry, graph, root / name, {
            "loaders.checkpoint": {"checkpoint": str(folder)},
            "latent.empty": {"width": 16, "height": 16},
            "sampling.basic_scheduler": {"steps": 3}})


def test_sd_workflows_run_on_a_tiny_model(registry, tiny_sd_checkpoint, tmp_path):
    values = {"loaders.checkpoint": {"checkpoint": str(tiny_sd_checkpoint)},
              "latent.empty": {"width": 32, "height": 32},
              "sampling.sampler_advanced": {"steps": 4},
              "sampling.karras_scheduler": {"steps": 3},
              "sampling.exponential_scheduler": {"steps": 3},
              "sampling.basic_scheduler": {"steps": 4}}
    pair = load_comfy(_doc("sdxl_base_refiner_ui.json"), "pair.json", registry)
    pair.nodes["10"].values["end_at_step"] = 3
    pair.nodes["11"].values["start_at_step"] = 3
    _run(registry, pair, tmp_path / "pair", values)
    graph = load_comfy(_doc("sd_custom_sampling_api.json"), "sd.json", registry)
    graph.nodes["21"].values["step"] = 2
    _run(registry, graph, tmp_path / "sd", values)
