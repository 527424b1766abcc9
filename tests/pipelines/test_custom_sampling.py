"""Split ("custom") sampling through our one denoise loop: explicit sigmas equal our own
Sampler where the settings coincide, split runs chain into one, KSamplerAdvanced's step range,
ComfyUI's simple / ddim_uniform / Karras / SD Turbo sigmas, dual CFG (tiny SD1 and Flux)."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.denoise import DualCFG, denoise
from pipelines.sampling.schedules import (
    advanced_run,
    karras,
    resolve,
    sd_turbo,
    sigma_table,
    table_schedule,
)
from pipelines.sampling_values import Sigmas
from pipelines.values import Latent, Noise

TOL = 1e-5
SHAPE = (1, 4, 16, 16)


def _latent(model, side=16):
    return Latent(samples=torch.zeros(1, model.latent_channels, side, side))


def _run(model, positive, negative, latent, run, sampler="euler", cfg=7.5, add_noise=True,
         dual=None):
    return denoise(model, positive, negative, latent, Noise(7), sampler=sampler, cfg=cfg,
                   sigmas=run, add_noise=add_noise, dual=dual).samples


@pytest.mark.parametrize(("sampler", "schedule", "steps"), [
    ("euler", "normal", 4), ("euler", "karras", 4), ("heun", "normal", 3),
    ("dpmpp_2m", "normal", 4), ("lms", "karras", 4), ("unipc", "normal", 4),
    ("euler_ancestral", "normal", 4), ("deis", "exponential", 4), ("dpmpp_2m_sde", "normal", 4),
])
def test_basic_scheduler_equals_our_sampler(tiny, prompts, sampler, schedule, steps):
    """BasicScheduler(schedule, n) + KSamplerSelect(sampler) + CFGGuider(cfg) == Sampler."""
    model = tiny[0]
    positive, negative = prompts
    ours = denoise(model, positive, negative, _latent(model), Noise(7), sampler=sampler,
                   schedule=schedule, steps=steps, cfg=7.5).samples
    run = resolve(Sigmas("schedule", model, schedule, steps), sampler, model, SHAPE)
    split = _run(model, positive, negative, _latent(model), run, sampler)
    assert (split - ours).abs().max().item() <= TOL


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_split_sigmas_halves_chain_into_one_run(tiny, prompts, sampler):
    """SplitSigmas(k): high half with noise, low half without: the one run (first-order and
    single-step samplers exactly; dpmpp_2m restarts its history, as ComfyUI's does)."""
    model = tiny[0]
    positive, negative = prompts
    whole = Sigmas("schedule", model, "normal", 6)
    one = _run(model, positive, negative, _latent(model), resolve(whole, sampler, model, SHAPE),
               sampler)
    high = resolve(whole.cut("high", 3), sampler, model, SHAPE)
    low = resolve(whole.cut("low", 3), sampler, model, SHAPE)
    assert float(high.sigmas[-1]) > 0 and not low.full
    first = _run(model, positive, negative, _latent(model), high, sampler)
    second = _run(model, positive, negative, Latent(samples=first), low, sampler,
                  add_noise=False)
    diff = (second - one).abs().max().item()
    if sampler == "dpmpp_2m":
        assert 0 < diff < 0.5
    else:
        assert diff <= TOL


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_base_then_refiner_equals_one_run(tiny, prompts, sampler):
    """KSamplerAdvanced: base 0..k returning its leftover noise, then k..n without adding
    noise, equals one run of n steps (SDXL base + refiner pairs)."""
    model = tiny[0]
    positive, negative = prompts
    n, k = 6, 4
    one = _run(model, positive, negative, _latent(model),
               advanced_run(model, sampler, "karras", n, 0, 10000, False, SHAPE), sampler)
    base = advanced_run(model, sampler, "karras", n, 0, k, True, SHAPE)
    refiner = advanced_run(model, sampler, "karras", n, k, 10000, False, SHAPE)
    first = _run(model, positive, negative, _latent(model), base, sampler)
    second = _run(model, positive, negative, Latent(samples=first), refiner, sampler,
                  add_noise=False)
    assert (second - one).abs().max().item() <= TOL
    # without leftover noise the base ends at sigma 0, as ComfyUI's force_full_denoise
    assert float(advanced_run(model, sampler, "karras", n, 0, k, False, SHAPE).sigmas[-1]) == 0
    assert advanced_run(model, sampler, "karras", n, n, 10000, False, SHAPE).steps == 0


def test_leftover_noise_crosses_samplers(tiny, prompts):
    """A leftover-noise latent is in ComfyUI's space whatever the sampler works in: a base run
    with euler continued by dpmpp_2m (variance-preserving) is close to one dpmpp_2m run."""
    model = tiny[0]
    positive, negative = prompts
    base = advanced_run(model, "euler", "normal", 8, 0, 4, True, SHAPE)
    first = _run(model, positive, negative, _latent(model), base, "euler")
    refiner = advanced_run(model, "dpmpp_2m", "normal", 8, 4, 10000, False, SHAPE)
    second = _run(model, positive, negative, Latent(samples=first), refiner, "dpmpp_2m",
                  add_noise=False)
    one = _run(model, positive, negative, _latent(model),
               advanced_run(model, "euler", "normal", 8, 0, 10000, False, SHAPE), "euler")
    assert (second - one).abs().max().item() < 0.1 * one.abs().max().item()


def test_comfy_table_schedules_exact(tiny):
    model = tiny[0]
    table = sigma_table(model, SHAPE)
    assert len(table) == 1000
    simple = table_schedule("simple", table, 4)
    assert simple.tolist() == pytest.approx(
        [float(table[i]) for i in (999, 749, 499, 249)] + [0.0], abs=0)
    ddim = table_schedule("ddim_uniform", table, 4)
    assert ddim.tolist() == pytest.approx(
        [float(table[i]) for i in (751, 501, 251, 1)] + [0.0], abs=0)
    k = karras(3, 0.1, 10.0, 7.0)
    assert k.tolist() == pytest.approx([10.0, ((10 ** (1 / 7) + 0.1 ** (1 / 7)) / 2) ** 7,
                                        0.1, 0.0], rel=1e-5)
    turbo = sd_turbo(table, 2, 1.0)
    assert turbo.tolist() == pytest.approx([float(table[999]), float(table[899]), 0.0],
                                           rel=1e-6)


def test_sampler_runs_simple_schedule_as_explicit_sigmas(tiny, prompts):
    model = tiny[0]
    positive, negative = prompts
    ours = denoise(model, positive, negative, _latent(model), Noise(7), sampler="euler",
                   schedule="simple", steps=4, cfg=7.5).samples
    run = resolve(Sigmas("schedule", model, "simple", 4), "euler", model, SHAPE)
    assert run.timesteps is None and run.full
    assert torch.equal(ours, _run(model, positive, negative, _latent(model), run))


def test_dual_cfg_with_the_positive_as_middle_is_cfg(tiny, prompts):
    """neg + cfg2 (middle - neg) + cfg1 (pos - middle) with middle = pos is CFG at cfg2."""
    model = tiny[0]
    positive, negative = prompts
    run = resolve(Sigmas("schedule", model, "normal", 3), "euler", model, SHAPE)
    plain = _run(model, positive, negative, _latent(model), run, cfg=5.0)
    dual = _run(model, positive, negative, _latent(model), run, cfg=3.0,
                dual=DualCFG(positive, 5.0))
    # the positive is called alone here (batch 1, not in the CFG pair): float rounding only
    assert (dual - plain).abs().max().item() <= 1e-5 * plain.abs().max().item()
    nested = _run(model, positive, negative, _latent(model), run, cfg=3.0,
                  dual=DualCFG(negative, 5.0, nested=True))
    assert (nested - plain).abs().max().item() > 1e-3  # a different mix


@pytest.fixture(scope="module")
def flux(tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny_flux import build_tiny_flux
    from pipelines.text.conditioning import encode_text

    model, clip, _ = load_checkpoint(build_tiny_flux(tmp_path_factory.mktemp("flux") / "f"))
    return model, encode_text(clip, "a red cat on the mat")


def test_flux_basic_guider_equals_our_sampler(flux):
    """The common Flux workflow: RandomNoise + KSamplerSelect(euler) + BasicScheduler +
    BasicGuider + SamplerCustomAdvanced equals our Sampler (cfg 1)."""
    model, positive = flux
    latent = _latent(model, 8)
    shape = tuple(latent.samples.shape)
    ours = denoise(model, positive, None, latent, Noise(3), sampler="euler", steps=4,
                   cfg=1.0).samples
    run = resolve(Sigmas("schedule", model, "normal", 4), "euler", model, shape)
    custom = denoise(model, positive, None, latent, Noise(3), cfg=1.0, sigmas=run).samples
    assert (custom - ours).abs().max().item() <= TOL
    whole = Sigmas("schedule", model, "simple", 4)
    one = denoise(model, positive, None, latent, Noise(3), cfg=1.0,
                  sigmas=resolve(whole, "euler", model, shape)).samples
    first = denoise(model, positive, None, latent, Noise(3), cfg=1.0,
                    sigmas=resolve(whole.cut("high", 2), "euler", model, shape)).samples
    second = denoise(model, positive, None, Latent(samples=first), Noise(3), cfg=1.0,
                     sigmas=resolve(whole.cut("low", 2), "euler", model, shape),
                     add_noise=False).samples
    assert (second - one).abs().max().item() <= TOL
    table = sigma_table(model, shape)
    assert 0 < float(table[0]) < float(table[-1]) == pytest.approx(1.0)


def test_lcm_with_sgm_uniform_equals_diffusers_with_those_timesteps(tiny, prompts, sd_pipe):
    """ComfyUI's LCM example schedule: timesteps linspace(999, 0, n + 1)[:-1], whole steps."""
    from pipelines.sampling.samplers import make_scheduler
    from pipelines.sampling.schedules import lcm_timesteps

    model = tiny[0]
    positive, _ = prompts
    timesteps = lcm_timesteps("sgm_uniform", 4, model.scheduler_config)
    assert timesteps == [999, 749, 500, 250]
    ours = denoise(model, positive, None, _latent(model), Noise(5), sampler="lcm",
                   schedule="sgm_uniform", steps=4, cfg=1.0).samples
    sd_pipe.scheduler = make_scheduler("lcm", "normal", model.scheduler_config)
    reference = sd_pipe("a red circle on a blue square", timesteps=timesteps,
                        guidance_scale=1.0, height=32, width=32, output_type="latent",
                        generator=torch.Generator("cpu").manual_seed(5)).images
    assert (ours - reference).abs().max().item() <= TOL
    own = denoise(model, positive, None, _latent(model), Noise(5), sampler="lcm",
                  schedule="normal", steps=4, cfg=1.0).samples
    assert (own - ours).abs().max().item() > 1e-3


def test_advanced_sampler_whole_run_takes_any_sampler_a_part_needs_sigmas(tiny, prompts):
    from pipelines.sampling.custom import sample_advanced
    from pipelines.sampling_values import Guider

    model = tiny[0]
    positive, negative = prompts
    guider = Guider(model, positive, negative, 7.5)
    whole = sample_advanced(guider, Noise(1), "dpm_2", "karras", 2, 0, 10000, False,
                            _latent(model)).samples
    ours = denoise(model, positive, negative, _latent(model), Noise(1), sampler="dpm_2",
                   schedule="karras", steps=2, cfg=7.5).samples
    assert torch.equal(whole, ours)
    with pytest.raises(ValueError, match="'dpm_2' cannot run on explicit sigmas"):
        sample_advanced(guider, Noise(1), "dpm_2", "karras", 4, 0, 2, True, _latent(model))


@pytest.mark.parametrize("sampler", ["unipc", "deis", "dpmpp_2m"])
def test_flow_samplers_on_explicit_sigmas_equal_our_sampler(flux, sampler):
    """Flux workflows pick these in KSamplerSelect (uni_pc, uni_pc_bh2, deis, dpmpp_2m)."""
    model, positive = flux
    latent = _latent(model, 8)
    shape = tuple(latent.samples.shape)
    ours = denoise(model, positive, None, latent, Noise(3), sampler=sampler, steps=4,
                   cfg=1.0).samples
    assert torch.isfinite(ours).all()
    run = resolve(Sigmas("schedule", model, "normal", 4), sampler, model, shape)
    custom = denoise(model, positive, None, latent, Noise(3), sampler=sampler, cfg=1.0,
                     sigmas=run).samples
    assert (custom - ours).abs().max().item() <= TOL
