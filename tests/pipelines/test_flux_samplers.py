"""Flux.1 with the samplers whose diffusers schedulers lack its resolution-dependent shift
(heun), KSamplerAdvanced's leftover noise on a flow model, and the T5 length per variant."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.families import get_family
from pipelines.families.flux import calculate_shift
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.testing.tiny_flux import build_tiny_flux
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"
TOL = 1e-5
SHAPE = (1, 16, 8, 8)  # 16 packed tokens


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-samplers")
    return {v: build_tiny_flux(root / f"flux-{v}", v) for v in ("dev", "schnell")}


@pytest.fixture(scope="module")
def dev(folders):
    model, clip, _ = load_checkpoint(folders["dev"])
    return model, encode_text(clip, PROMPT)


def _velocity(model, cond, x, sigma):
    family = get_family(model.family)
    inputs = family.denoiser_inputs(model, cond.embeds, cond, None, x, False, 1.0)
    with torch.no_grad():
        return family.call_denoiser(model, x, sigma * 1000, inputs).float()


def _flux_sigmas(steps):
    """FluxPipeline's sigmas by hand: linspace(1, 1/steps) under the exponential time shift
    with mu from the token count, then 0."""
    mu = calculate_shift(SHAPE[2] // 2 * SHAPE[3] // 2)
    values = [1.0 - i * (1.0 - 1.0 / steps) / (steps - 1) for i in range(steps)]
    shifted = [math.exp(mu) / (math.exp(mu) + (1 / s - 1)) for s in values]
    return torch.tensor([*shifted, 0.0], dtype=torch.float32)


def test_heun_on_flux_steps_over_the_shifted_sigmas(dev):
    """Heun's method by hand (FlowMatchHeun's: the last step to 0 is Euler) over FluxPipeline's
    shifted sigmas equals our heun sampler on the dev model."""
    model, cond = dev
    steps = 3
    sigmas = _flux_sigmas(steps)
    x = Noise(0).sample(SHAPE)
    for i in range(steps):
        sigma, after = sigmas[i], sigmas[i + 1]
        dt = after - sigma
        v = _velocity(model, cond, x, sigma)
        if float(after) == 0.0:
            x = x + dt * v
        else:
            v2 = _velocity(model, cond, x + dt * v, after)
            x = x + dt * (v + v2) / 2
    out = denoise(model, cond, None, Latent(samples=torch.zeros(SHAPE)), Noise(0),
                  sampler="heun", steps=steps, cfg=1.0).samples
    assert (out - x).abs().max() <= TOL


def test_heun_uses_the_resolution_dependent_shift(dev):
    """A fixed shift (Model Sampling Flux for another size) changes heun's result: the shift
    reaches the sampler."""
    from pipelines.families.flux import with_flux_shift

    model, cond = dev
    zeros = Latent(samples=torch.zeros(SHAPE))
    base = denoise(model, cond, None, zeros, Noise(0), sampler="heun", steps=2, cfg=1.0)
    same = denoise(with_flux_shift(model, 1.15, 0.5, 64, 64), cond, None, zeros, Noise(0),
                   sampler="heun", steps=2, cfg=1.0)
    other = denoise(with_flux_shift(model, 1.15, 0.5, 2048, 2048), cond, None, zeros,
                    Noise(0), sampler="heun", steps=2, cfg=1.0)
    assert (base.samples - same.samples).abs().max() <= TOL
    assert (base.samples - other.samples).abs().max() > 1e-4


@pytest.mark.parametrize("kind,length", [("flux", 512), ("flux_schnell", 256)])
def test_text_encoder_files_pad_t5_to_the_variants_length(folders, tmp_path, kind, length):
    """Load Text Encoders type flux_schnell pads T5 to schnell's 256 tokens and equals
    FluxPipeline(max_sequence_length=256) on the schnell folder; type flux keeps dev's 512."""
    from diffusers import FluxPipeline

    from pipelines.loading.model_parts import load_text_encoders_cached
    from pipelines.memory.cache import ModelCache
    from pipelines.testing.tiny_flux import write_text_encoder_files

    files = write_text_encoder_files(tmp_path / "text", folders["schnell"])
    clip = load_text_encoders_cached(list(files), kind, cache=ModelCache())
    cond = encode_text(clip, PROMPT)
    pipe = FluxPipeline.from_pretrained(folders["schnell"], local_files_only=True)
    with torch.no_grad():
        embeds, pooled, _ = pipe.encode_prompt(PROMPT, max_sequence_length=length)
    assert cond.embeds.shape == (1, length, embeds.shape[-1])
    assert (cond.embeds - embeds).abs().max() <= TOL
    assert (cond.extras["pooled"] - pooled).abs().max() <= TOL


def test_leftover_noise_is_comfyuis_and_a_refiner_continues_it(folders, dev):
    """KSamplerAdvanced on a flow model: the base run 0..k returns its sample divided by
    1 - sigma_k (ComfyUI's CONST.inverse_noise_scaling: FluxPipeline's latent after k steps,
    so divided); the refiner k..n without added noise multiplies it back, and the pair
    equals one n-step run."""
    from diffusers import FluxPipeline

    from pipelines.sampling.schedules import advanced_run

    model, cond = dev
    n, k = 4, 2
    zeros = Latent(samples=torch.zeros(SHAPE))

    def run(latent, start, end, leftover, add_noise=True):
        sigmas = advanced_run(model, "euler", "normal", n, start, end, leftover, SHAPE)
        return denoise(model, cond, None, latent, Noise(0), sampler="euler", cfg=1.0,
                       sigmas=sigmas, add_noise=add_noise), sigmas

    base, sigmas = run(zeros, 0, k, True)
    whole, _ = run(zeros, 0, 10000, False)
    refined, _ = run(base, k, 10000, False, add_noise=False)
    assert (refined.samples - whole.samples).abs().max() <= TOL

    pipe = FluxPipeline.from_pretrained(folders["dev"], local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    seen = {}

    def keep(pipe, i, t, values):
        seen[i] = values["latents"].clone()
        return values

    pipe(PROMPT, height=16, width=16, num_inference_steps=n, guidance_scale=3.5,
         generator=torch.Generator("cpu").manual_seed(0), output_type="latent",
         callback_on_step_end=keep)
    sigma_k = float(sigmas.sigmas[-1])
    assert abs(sigma_k - float(pipe.scheduler.sigmas[k])) <= 1e-6
    from pipelines.families.flux_tokens import unpack

    expected = unpack(seen[k - 1], 8, 8) / (1.0 - sigma_k)
    assert (base.samples - expected).abs().max() <= TOL
