"""Guidance in the denoiser's dtype: the batch-2 output of a half-precision denoiser is
combined (CFG, dual CFG, guidance rescale) as it comes, as diffusers does, and only the
batch-1 result is cast to the latent's dtype. In float32 nothing changes (the parity tests)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from pipelines.families import get_family
from pipelines.sampling.denoise import denoise
from pipelines.sampling.guidance import DualCFG, Guidance
from pipelines.sampling.model_sampling import rescale_guidance
from pipelines.values import Latent, Noise

CFG = 7.5
HALVES = [torch.bfloat16, torch.float16]


@pytest.fixture(scope="module")
def half_models(tiny):
    model, _, _ = tiny
    return {dtype: dataclasses.replace(model, denoiser=copy.deepcopy(model.denoiser).to(dtype))
            for dtype in HALVES}


def _start() -> torch.Tensor:
    return torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))


def _unet(model, x: torch.Tensor, t: torch.Tensor, *conds) -> torch.Tensor:
    """The denoiser's raw output for ``x`` under each conditioning (one batch)."""
    states = torch.cat([c.embeds for c in conds]).to(x.dtype)
    return model.denoiser(torch.cat([x] * len(conds)), t, encoder_hidden_states=states,
                          return_dict=False)[0]


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("phi", [0.0, 0.7])
def test_cfg_runs_on_the_denoiser_output_in_its_dtype(half_models, prompts, dtype, phi):
    model = dataclasses.replace(half_models[dtype], guidance_rescale=phi)
    positive, negative = prompts
    x, t = _start(), torch.tensor(500)
    guidance = Guidance(model, get_family(model.family), positive, negative, CFG, x, 1, dtype)
    out = guidance.predict(x.to(dtype), t, 0)

    with torch.inference_mode():
        uncond, cond = _unet(model, x.to(dtype), t, negative, positive).chunk(2)
    assert uncond.dtype == dtype
    expected = uncond + CFG * (cond - uncond)
    if phi:
        expected = rescale_guidance(expected, cond, phi)
    assert out.dtype == torch.float32  # the latent's dtype, cast once
    assert torch.equal(out, expected.float())
    # guided in float32 (one cast of the batch-2 output per step) rounds differently
    u32, c32 = uncond.float(), cond.float()
    upcast = u32 + CFG * (c32 - u32)
    if phi:
        upcast = rescale_guidance(upcast, c32, phi)
    assert not torch.equal(out, upcast)
    assert (out - upcast).abs().max() <= 0.05 * upcast.abs().max()


@pytest.mark.parametrize("nested", [False, True])
def test_dual_cfg_runs_in_the_denoiser_dtype(half_models, tiny, prompts, nested):
    from pipelines.text.conditioning import encode_text

    dtype = torch.bfloat16
    model = half_models[dtype]
    positive, negative = prompts
    middle = encode_text(tiny[1], "a red circle")
    x, t = _start(), torch.tensor(500)
    dual = DualCFG(middle, 2.0, nested=nested)
    guidance = Guidance(model, get_family(model.family), positive, negative, CFG, x, 1, dtype,
                        dual=dual)
    out = guidance.predict(x.to(dtype), t, 0)

    with torch.inference_mode():
        neg, mid = _unet(model, x.to(dtype), t, negative, middle).chunk(2)
        pos = _unet(model, x.to(dtype), t, positive)
    if nested:
        expected = neg + 2.0 * (mid + CFG * (pos - mid) - neg)
    else:
        expected = neg + 2.0 * (mid - neg) + (pos - mid) * CFG
    assert out.dtype == torch.float32
    assert torch.equal(out, expected.float())


@pytest.mark.parametrize("dtype", HALVES)
def test_a_half_precision_run_stays_close_to_float32(tiny, half_models, prompts, dtype):
    positive, negative = prompts
    start = Latent(samples=torch.zeros(1, 4, 8, 8))
    runs = {d: denoise(m, positive, negative, start, Noise(11), steps=4, cfg=CFG).samples
            for d, m in ((torch.float32, tiny[0]), (dtype, half_models[dtype]))}
    full, half = runs[torch.float32], runs[dtype]
    assert half.dtype == torch.float32
    assert torch.isfinite(half).all()
    assert (half - full).abs().max() <= 0.03 * full.abs().max()  # bf16: 1.5%, fp16: 0.25%
