"""The Model Sampling node: a patched copy of the model (prediction, zero SNR, CFG rescale)."""

from __future__ import annotations

import torch

from app.engine.executor import Executor
from app.engine.graph import Graph
from tests.nodes.conftest import txt2img_graph

PATCH = {"prediction": "v_prediction", "zero_terminal_snr": "on", "cfg_rescale": 0.7}


def _patched_graph(registry, checkpoint, values: dict) -> Graph:
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1",
          values={"checkpoint": str(checkpoint)})
    g.add("model.sampling", registry=registry, node_id="2", values=values)
    g.connect("1", "model", "2", "model")
    return g


def test_node_is_registered_with_its_inputs(registry):
    spec = registry.get("model.sampling")
    assert spec is not None and spec.title == "Model Sampling"
    assert [i.name for i in spec.inputs] == ["model", "prediction", "zero_terminal_snr",
                                             "cfg_rescale"]


def test_returns_a_changed_copy_and_leaves_the_input_untouched(registry, tiny_checkpoint):
    result = Executor(registry).run(_patched_graph(registry, tiny_checkpoint, PATCH),
                                    targets=["1", "2"])
    assert result.status == "ok", result.error
    original, patched = result.outputs["1"][0], result.outputs["2"][0]
    before = dict(original.scheduler_config)
    assert patched is not original and patched.denoiser is original.denoiser  # weights are shared
    assert patched.prediction_type == patched.scheduler_config["prediction_type"] == "v_prediction"
    assert patched.scheduler_config["rescale_betas_zero_snr"] is True
    assert patched.scheduler_config["timestep_spacing"] == "trailing"
    assert patched.guidance_rescale == 0.7
    # the cached loader output is exactly as it was
    assert original.prediction_type == "epsilon" and original.guidance_rescale == 0.0
    assert not original.scheduler_config.get("rescale_betas_zero_snr")
    assert original.scheduler_config == before


def test_auto_keeps_the_model_prediction(registry, tiny_checkpoint):
    values = {"prediction": "auto", "zero_terminal_snr": "auto", "cfg_rescale": 0.0}
    result = Executor(registry).run(_patched_graph(registry, tiny_checkpoint, values),
                                    targets=["1", "2"])
    assert result.status == "ok", result.error
    original, patched = result.outputs["1"][0], result.outputs["2"][0]
    assert patched.prediction_type == original.prediction_type == "epsilon"
    assert patched.scheduler_config["timestep_spacing"] == original.scheduler_config[
        "timestep_spacing"]


def test_zero_snr_auto_keeps_a_models_own_setting_and_off_removes_it(registry,
                                                                     tiny_checkpoint):
    """A second node that only sets the CFG rescale must not undo a zero-SNR model."""
    g = _patched_graph(registry, tiny_checkpoint, PATCH)  # stands in for a ztsnr checkpoint
    g.add("model.sampling", registry=registry, node_id="3",
          values={"prediction": "auto", "zero_terminal_snr": "auto", "cfg_rescale": 0.5})
    g.connect("2", "model", "3", "model")
    executor = Executor(registry)
    kept = executor.run(g, targets=["3"]).outputs["3"][0]
    assert kept.scheduler_config["rescale_betas_zero_snr"] is True
    assert kept.scheduler_config["timestep_spacing"] == "trailing"
    assert kept.guidance_rescale == 0.5 and kept.prediction_type == "v_prediction"
    g.nodes["3"].values["zero_terminal_snr"] = "off"
    off = executor.run(g, targets=["3"]).outputs["3"][0]
    assert off.scheduler_config["rescale_betas_zero_snr"] is False
    assert off.scheduler_config["timestep_spacing"] == "leading"


def test_sampler_after_the_node_samples_the_patched_model(registry, tiny_checkpoint):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.samplers import with_sampling
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    g = txt2img_graph(registry, tiny_checkpoint, steps=3)
    g.add("model.sampling", registry=registry, node_id="9", values=PATCH)
    g.connect("1", "model", "9", "model")
    g.connect("9", "model", "6", "model")  # replaces the loader -> sampler link
    plain = Executor(registry).run(txt2img_graph(registry, tiny_checkpoint, steps=3),
                                   targets=["6"])
    result = Executor(registry).run(g, targets=["6"])
    assert result.status == "ok" and plain.status == "ok", result.error
    ours = result.outputs["6"][0].samples

    model, clip, _ = load_checkpoint(tiny_checkpoint)
    expected = denoise(
        with_sampling(model, prediction="v_prediction", zero_terminal_snr=True,
                      guidance_rescale=0.7),
        encode_text(clip, "a red circle"), encode_text(clip, ""),
        Latent(torch.zeros(1, 4, 16, 16)), Noise(7), sampler="euler", steps=3, cfg=7.5,
    )  # fmt: skip
    assert (ours - expected.samples).abs().max().item() <= 1e-5
    assert (ours - plain.outputs["6"][0].samples).abs().max().item() > 1e-3
