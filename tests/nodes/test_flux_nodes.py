"""Flux nodes through the engine: Load Checkpoint (a Flux diffusers folder) -> Text Encode
(Flux) / Flux Guidance -> Model Sampling (Flux) -> Sampler -> VAE Decode."""

from __future__ import annotations

import pytest
import torch

from app.engine.executor import Executor
from app.engine.graph import Graph


@pytest.fixture(scope="module")
def flux_dev(tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("flux-nodes") / "flux-dev", "dev")


def test_flux_nodes_are_registered(registry):
    for type_id in ("conditioning.flux_guidance", "conditioning.text_encode_flux",
                    "model.sampling_flux"):
        assert registry.get(type_id) is not None, type_id


def test_text_encode_flux_and_guidance_set_the_embedded_guidance(registry, flux_dev):
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1",
          values={"checkpoint": str(flux_dev)})
    g.add("conditioning.text_encode_flux", registry=registry, node_id="2",
          values={"clip_l": "a red cat", "t5xxl": "a red cat on the mat", "guidance": 4.0})
    g.add("conditioning.flux_guidance", registry=registry, node_id="3",
          values={"guidance": 2.0})
    g.add("model.sampling_flux", registry=registry, node_id="4",
          values={"max_shift": 1.15, "base_shift": 0.5, "width": 512, "height": 512})
    g.connect("1", "clip", "2", "clip")
    g.connect("2", "conditioning", "3", "conditioning")
    g.connect("1", "model", "4", "model")
    result = Executor(registry).run(g, targets=["2", "3", "4"])
    assert result.status == "ok", result.error
    encoded, guided = result.outputs["2"][0], result.outputs["3"][0]
    assert float(encoded.extras["guidance"]) == 4.0 and float(guided.extras["guidance"]) == 2.0
    assert torch.equal(encoded.embeds, guided.embeds) and encoded.embeds.shape[1] == 512
    patched = result.outputs["4"][0]
    assert patched.scheduler_config["use_dynamic_shifting"] is False
    assert patched.scheduler_config["shift"] > 1.0


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_the_shipped_flux_workflows_run_on_tiny_models(registry, tmp_path_factory, tmp_path,
                                                       variant):
    from pathlib import Path

    from app.engine.workflow import to_document
    from app.interop.open import open_workflow as load_workflow
    from node_api.context import RunOptions
    from pipelines.testing.tiny_flux import build_tiny_flux

    folder = build_tiny_flux(tmp_path_factory.mktemp("flux-wf") / f"flux-{variant}", variant)
    path = (Path(__file__).resolve().parents[2] / "resources" / "workflows"
            / f"flux_{variant}_txt2img.json")
    graph = load_workflow(path, registry)
    graph.find("Load Checkpoint").values["checkpoint"] = str(folder)
    graph.find("Empty Latent").values.update(width=16, height=16)
    graph.find("Sampler").values.update(steps=2)
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    assert len(result.files) == 1
