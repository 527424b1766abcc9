"""unipc_bh1 (ComfyUI's uni_pc): diffusers' UniPC with B(h) = h returned NaN on every run
ending at sigma 0 (B(h) is infinite on that last step); we end at sigma 0.001 as ComfyUI
does. Numbers against ComfyUI's solver: benchmarks/unipc_vs_comfy.py."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.denoise import denoise
from pipelines.sampling.samplers import BH1_FINAL_SIGMA, finite_final_sigma, make_scheduler
from pipelines.values import Latent, Noise


@pytest.mark.parametrize("schedule", ["normal", "karras", "simple"])  # simple: explicit sigmas
def test_unipc_bh1_gives_an_image_not_nan(tiny, prompts, schedule):
    model, _, _ = tiny
    positive, negative = prompts
    empty = Latent(torch.zeros(1, 4, 16, 16))
    runs = {s: denoise(model, positive, negative, empty, Noise(3), sampler=s, schedule=schedule,
                       steps=5, cfg=5.0).samples for s in ("unipc_bh1", "unipc")}
    bh1 = runs["unipc_bh1"]
    assert torch.isfinite(bh1).all()
    assert (bh1 - Noise(3).sample(bh1.shape)).abs().max() > 0.1  # it really sampled
    assert (bh1 - runs["unipc"]).abs().max() > 1e-4  # and with B(h) = h, not bh2


def test_only_bh1_runs_ending_at_zero_are_moved():
    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
    for sampler, moved in (("unipc_bh1", True), ("unipc", False), ("dpmpp_2m", False)):
        scheduler = make_scheduler(sampler, "normal", config)
        scheduler.set_timesteps(4)
        finite_final_sigma(scheduler)
        assert float(scheduler.sigmas[-1]) == pytest.approx(BH1_FINAL_SIGMA if moved else 0.0)
