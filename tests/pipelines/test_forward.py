"""Forward diffusion q(x_t | x_0) against the formula and against diffusers' DDPMScheduler."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.sampling.forward import NoiseSchedule, add_noise

SD_CONFIG = {
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "num_train_timesteps": 1000,
}
CONFIGS = {
    "scaled_linear": SD_CONFIG,
    "linear": {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02},
    "squaredcos_cap_v2": {"beta_schedule": "squaredcos_cap_v2"},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_schedule_matches_diffusers(name):
    from diffusers import DDPMScheduler

    ours = NoiseSchedule.from_config(CONFIGS[name])
    theirs = DDPMScheduler(**CONFIGS[name])
    assert torch.equal(ours.betas, theirs.betas)
    assert torch.equal(ours.alphas_cumprod, theirs.alphas_cumprod)


def test_schedule_endpoints_are_the_published_values():
    schedule = NoiseSchedule.from_config(SD_CONFIG)
    assert schedule.num_train_timesteps == 1000
    assert schedule.betas[0].item() == pytest.approx(0.00085, rel=1e-5)
    assert schedule.betas[-1].item() == pytest.approx(0.012, rel=1e-5)
    # SD's well-known terminal alpha_bar (~0.0047): x_T still holds ~7 % of the signal.
    assert schedule.alphas_cumprod[-1].item() == pytest.approx(0.004682, rel=1e-2)
    with pytest.raises(ValueError, match="beta_schedule"):
        NoiseSchedule.from_config({"beta_schedule": "bogus"})


@pytest.mark.parametrize("name", list(CONFIGS))
def test_add_noise_matches_formula_and_diffusers(name):
    from diffusers import DDPMScheduler

    schedule = NoiseSchedule.from_config(CONFIGS[name])
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 4, 8, 8, generator=g)
    eps = torch.randn(4, 4, 8, 8, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    got = add_noise(x0, eps, t, schedule)
    for i, ti in enumerate(t.tolist()):
        ab = schedule.alphas_cumprod[ti].item()
        direct = math.sqrt(ab) * x0[i] + math.sqrt(1 - ab) * eps[i]
        assert torch.allclose(got[i], direct, atol=1e-6)
    assert torch.allclose(got, DDPMScheduler(**CONFIGS[name]).add_noise(x0, eps, t), atol=1e-6)


def test_scalar_timestep_broadcasts_over_the_batch():
    schedule = NoiseSchedule.from_config(SD_CONFIG)
    x0, eps = torch.ones(3, 4, 2, 2), torch.zeros(3, 4, 2, 2)
    out = add_noise(x0, eps, 250, schedule)
    expected = schedule.alphas_cumprod[250].sqrt().item()
    assert torch.allclose(out, torch.full_like(out, expected))
    assert torch.equal(add_noise(x0, eps, torch.tensor(250), schedule), out)


@pytest.mark.parametrize("t", [-1, 1000, [1, 2]])
def test_bad_timesteps_raise(t):
    schedule = NoiseSchedule.from_config(SD_CONFIG)
    with pytest.raises(ValueError):
        add_noise(torch.zeros(3, 4, 2, 2), torch.zeros(3, 4, 2, 2), torch.tensor(t), schedule)


@pytest.mark.parametrize("name", ["scaled_linear", "squaredcos_cap_v2"])
def test_x_T_of_a_constant_image_is_nearly_pure_gaussian(name):
    """x_T = sqrt(ab_T) c + sqrt(1 - ab_T) eps. With N ~ 1e6 samples the sampling error of the
    mean is 1/sqrt(N) = 1e-3 and of the std ~ 1/sqrt(2N) = 7e-4, so 5-sigma bounds are tight;
    the only systematic offset is the residual signal sqrt(ab_T) * c (0.068 for SD, ~0 cosine)."""
    schedule = NoiseSchedule.from_config(CONFIGS[name])
    c, shape = 1.0, (64, 4, 64, 64)
    n = math.prod(shape)
    x0 = torch.full(shape, c)
    eps = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    x_t = add_noise(x0, eps, schedule.num_train_timesteps - 1, schedule)
    ab = schedule.alphas_cumprod[-1].item()
    mean, std = x_t.mean().item(), x_t.std().item()
    assert abs(mean - math.sqrt(ab) * c) < 5 / math.sqrt(n)
    assert abs(std - math.sqrt(1 - ab)) < 5 / math.sqrt(2 * n)
    assert abs(mean) < 0.075 and abs(std - 1) < 0.005  # "pure noise" up to the residual signal
    z = (x_t - mean) / std
    within_one = (z.abs() < 1).float().mean().item()
    assert abs(within_one - 0.682689) < 5 * math.sqrt(0.6827 * 0.3173 / n)
    kurtosis = (z**4).mean().item()
    assert abs(kurtosis - 3.0) < 0.05  # sampling sd of the kurtosis is sqrt(24 / N) ~ 5e-3
    # The same image at t = 0 is still almost clean, so the test above is not vacuous.
    x_0 = add_noise(x0, eps, 0, schedule)
    assert abs(x_0.mean().item() - c) < 0.01 and x_0.std().item() < 0.05
