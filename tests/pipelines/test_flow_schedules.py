"""Flow-matching schedules beyond "normal" and the UniPC flow sampler: our loop on a tiny SD3
equals StableDiffusion3Pipeline run with the same diffusers scheduler built by hand (same seed,
CPU, max abs diff <= 1e-5); the schedules each sampler takes are answered per model kind."""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.sampling.samplers import schedules_for
from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT, NEGATIVE = "a red cat on the mat", "a blue dog"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tiny_sd3_folder(tmp_path_factory.mktemp("flow") / "sd3", "sd3")


@pytest.fixture(scope="module")
def pipe(folder):
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.base_scheduler_config = dict(pipe.scheduler.config)  # tests swap the scheduler
    return pipe


def _reference(pipe, sampler: str, schedule: str):
    import diffusers

    config = pipe.base_scheduler_config
    if sampler == "euler":
        flags = {f"use_{schedule}_sigmas": True} if schedule != "normal" else {}
        return diffusers.FlowMatchEulerDiscreteScheduler.from_config(config, **flags)
    return diffusers.UniPCMultistepScheduler(use_flow_sigmas=True, flow_shift=config["shift"],
                                             prediction_type="flow_prediction", solver_order=2)


@pytest.mark.parametrize(("sampler", "schedule"), [("euler", "karras"), ("euler", "exponential"),
                                                   ("euler", "beta"), ("unipc", "normal")])
def test_flow_schedule_equals_the_pipeline_with_that_scheduler(folder, pipe, sampler, schedule):
    model, clip, _ = load_checkpoint(folder)
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    ours = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(5),
                   sampler=sampler, schedule=schedule, steps=4, cfg=4.5).samples
    plain = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(5),
                    sampler="euler", steps=4, cfg=4.5).samples
    pipe.scheduler = _reference(pipe, sampler, schedule)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=4.5,
               height=16, width=16, generator=torch.Generator().manual_seed(5),
               output_type="latent").images
    diff = (ours - ref).abs().max().item()
    print(f"flow {sampler}/{schedule} max abs diff vs StableDiffusion3Pipeline: {diff}")
    assert diff <= 1e-5
    assert (ours - plain).abs().max() > 1e-4  # another spacing or solver, another path


def test_sgm_uniform_is_comfyuis_and_equals_the_pipeline_given_those_sigmas(folder, pipe):
    """ComfyUI (ModelSamplingDiscreteFlow, shift 3): steps + 1 timesteps evenly spaced from
    1000 * sigma_max to 1000 * sigma_min, the last dropped, each shifted (the table's sigmas
    are shifted already), then 0."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    from pipelines.sampling.flow_schedules import flow_scheduler

    def shift(s):
        return 3.0 * s / (1 + 2.0 * s)

    steps = 4
    comfy = shift(np.linspace(1000 * shift(1.0), 1000 * shift(1 / 1000), steps + 1)[:-1] / 1000)
    scheduler = flow_scheduler("euler", "sgm_uniform", pipe.base_scheduler_config)
    scheduler.set_timesteps(steps)
    assert np.allclose(scheduler.sigmas.numpy(), [*comfy, 0.0], atol=1e-6)
    model, clip, _ = load_checkpoint(folder)
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    ours = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(5),
                   sampler="euler", schedule="sgm_uniform", steps=steps, cfg=4.5).samples
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.base_scheduler_config)
    unshifted = np.linspace(1.0, shift(1 / 1000), steps + 1)[:-1]  # the pipeline shifts them
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=steps, guidance_scale=4.5,
               height=16, width=16, sigmas=list(unshifted),
               generator=torch.Generator().manual_seed(5), output_type="latent").images
    diff = (ours - ref).abs().max().item()
    print(f"flow euler/sgm_uniform max abs diff vs StableDiffusion3Pipeline: {diff}")
    assert diff <= 1e-5


def test_schedules_are_answered_per_model_kind():
    table = ("simple", "ddim_uniform")  # ComfyUI's, installed as explicit sigmas
    assert schedules_for("euler", "flow") == ("normal", "sgm_uniform", "karras", "exponential",
                                              "beta", *table)
    assert schedules_for("heun", "flow") == schedules_for("dpmpp_2m", "flow") == (
        "normal", *table)
    assert "sgm_uniform" in schedules_for("euler")  # discrete models: unchanged
    with pytest.raises(ValueError, match="flow-matching"):
        schedules_for("lcm", "flow")


def test_a_schedule_the_flow_sampler_lacks_is_named(folder):
    model, clip, _ = load_checkpoint(folder)
    pos = encode_text(clip, PROMPT)
    with pytest.raises(ValueError, match="'karras'.*'dpmpp_2m'.*'normal'"):
        denoise(model, pos, None, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(5),
                sampler="dpmpp_2m", schedule="karras", steps=2, cfg=1.0)
