"""A1111's "Eta noise seed delta" (ENSD) as our Noise's ``step_seed_delta``: the initial noise
comes from ``seed``, the per-step noise of ancestral samplers from a generator reseeded
``seed + delta`` right after it (A1111's ``ImageRNG.first``)."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.denoise import denoise
from pipelines.sampling.noise import step_generators
from pipelines.values import Latent, Noise
from tests.pipelines.test_sampler_parity import PROMPT, SIZE, TOL, _reference_scheduler

SEED, DELTA = 1234, 31337
SHAPE = (1, 4, SIZE // 2, SIZE // 2)


def _run(tiny, prompts, noise, sampler="euler_ancestral", batch=1):
    model, _, _ = tiny
    positive, negative = prompts
    empty = Latent(samples=torch.zeros(batch, *SHAPE[1:]))
    return denoise(model, positive, negative, empty, noise, sampler=sampler, steps=4,
                   cfg=7.5).samples


def test_step_generators_are_reseeded_seed_plus_delta_per_image():
    drawn = Noise(SEED).generators(1)
    assert step_generators(SEED, "batch", 0, 1, drawn) is drawn  # 0: the stream continues
    again = step_generators(SEED, "batch", DELTA, 1, drawn)
    assert torch.equal(torch.randn(3, generator=again),
                       torch.randn(3, generator=torch.Generator().manual_seed(SEED + DELTA)))
    per_image = step_generators(SEED, "per_image", DELTA, 2, None)
    assert [g.initial_seed() for g in per_image] == [SEED + DELTA, SEED + 1 + DELTA]


def test_ensd_changes_euler_ancestral_and_equal_ensd_reproduces_it(tiny, prompts):
    plain = _run(tiny, prompts, Noise(SEED))
    shifted = _run(tiny, prompts, Noise(SEED, step_seed_delta=DELTA))
    assert torch.equal(shifted, _run(tiny, prompts, Noise(SEED, step_seed_delta=DELTA)))
    assert (shifted - plain).abs().max().item() > 1e-3
    other = _run(tiny, prompts, Noise(SEED, step_seed_delta=DELTA + 1))
    assert (other - shifted).abs().max().item() > 1e-3
    # a sampler that adds no noise while sampling is not touched by it
    assert torch.equal(_run(tiny, prompts, Noise(SEED), "dpmpp_2m"),
                       _run(tiny, prompts, Noise(SEED, step_seed_delta=DELTA), "dpmpp_2m"))


@pytest.mark.parametrize("sampler", ["euler_ancestral", "dpm_2_ancestral"])
def test_ensd_equals_diffusers_given_the_seeds_noise_and_a_seed_plus_delta_generator(
        tiny, prompts, sd_pipe, sampler):
    """The same run in diffusers' terms: starting latents drawn from ``seed`` and the
    pipeline's generator seeded ``seed + delta`` (it then draws only the per-step noise)."""
    model, _, _ = tiny
    scheduler = _reference_scheduler(sampler, "normal", model.scheduler_config, SEED)
    sd_pipe.scheduler = scheduler
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SEED))
    ref = sd_pipe(PROMPT, negative_prompt="", num_inference_steps=4, guidance_scale=7.5,
                  height=SIZE, width=SIZE, latents=start,
                  generator=torch.Generator().manual_seed(SEED + DELTA),
                  output_type="latent").images
    ours = _run(tiny, prompts, Noise(SEED, step_seed_delta=DELTA), sampler)
    assert (ours - ref).abs().max().item() <= TOL


def test_per_image_ensd_keeps_each_image_reproducible_alone(tiny, prompts):
    batch = _run(tiny, prompts, Noise(SEED, "per_image", step_seed_delta=DELTA), batch=2)
    alone = _run(tiny, prompts, Noise(SEED + 1, "per_image", step_seed_delta=DELTA))
    # batched convolutions round differently: compare relative to the latents' size (~10)
    assert (batch[1:] - alone).abs().max().item() <= TOL * alone.abs().max().item()
