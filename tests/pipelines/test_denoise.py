"""The denoising loop's contract beyond parity: callbacks, cancel, masks, denoise, guidance."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pipelines.sampling.denoise import _predicted_x0, denoise
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise

SHAPE = (1, 4, 8, 8)


class CountingUnet:
    """Wraps a UNet and records the batch size of every call."""

    def __init__(self, unet):
        self.denoiser, self.batches = unet, []
        self.config, self.dtype = unet.config, unet.dtype

    def __call__(self, sample, *args, **kwargs):
        self.batches.append(sample.shape[0])
        return self.denoiser(sample, *args, **kwargs)


@pytest.fixture()
def counted(tiny):
    model, _, _ = tiny
    return dataclasses.replace(model, denoiser=CountingUnet(model.denoiser))


def _run(model, prompts, **kwargs):
    positive, negative = prompts
    latent = kwargs.pop("latent", Latent(samples=torch.zeros(SHAPE)))
    options = {"steps": 4, "cfg": 7.5} | kwargs
    return denoise(model, positive, negative, latent, Noise(11), **options)


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "unipc", "lcm", "heun"])
def test_callback_gets_every_step_and_a_final_x0(tiny, prompts, sampler):
    model, _, _ = tiny
    calls = []
    out = _run(model, prompts, sampler=sampler, callback=lambda i, n, x0: calls.append((i, n, x0)))
    total = 7 if sampler == "heun" else 4
    assert [(i, n) for i, n, _ in calls] == [(i, total) for i in range(total)]
    assert all(x0.shape == SHAPE for _, _, x0 in calls)
    # These samplers end at sigma 0, where the last x0 estimate is the result itself.
    assert torch.allclose(calls[-1][2], out.samples, atol=1e-5)
    # ...and earlier estimates are not (the preview shows progress, not a copy of x).
    assert not torch.allclose(calls[0][2], out.samples, atol=1e-2)


def test_callback_exception_stops_the_loop(counted, prompts):
    class Cancelled(Exception):
        pass

    seen = []

    def cancel_at_second_step(i, n, x0):
        seen.append(i)
        if i == 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        _run(counted, prompts, sampler="euler", steps=10, callback=cancel_at_second_step)
    assert seen == [0, 1]
    assert len(counted.denoiser.batches) == 2


def test_cfg_one_skips_the_unconditional_pass(counted, prompts):
    positive, _ = prompts
    out = denoise(counted, positive, None, Latent(torch.zeros(SHAPE)), Noise(1), steps=3, cfg=1.0)
    assert counted.denoiser.batches == [1, 1, 1]
    counted.denoiser.batches.clear()
    _run(counted, prompts, steps=3, cfg=1.0)
    assert counted.denoiser.batches == [1, 1, 1]
    counted.denoiser.batches.clear()
    guided = _run(counted, prompts, steps=3, cfg=7.5)
    assert counted.denoiser.batches == [2, 2, 2]
    assert not torch.allclose(out.samples, guided.samples)


def test_negative_needed_when_guiding(tiny, prompts):
    model, _, _ = tiny
    with pytest.raises(ValueError, match="negative"):
        denoise(model, prompts[0], None, Latent(torch.zeros(SHAPE)), Noise(1), cfg=7.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"steps": 0}, {"denoise": 1.5}, {"denoise": -0.1}, {"sampler": "nope"}, {"schedule": "nope"}],
)
def test_bad_arguments_raise_value_error(tiny, prompts, kwargs):
    model, _, _ = tiny
    with pytest.raises(ValueError):
        _run(model, prompts, **kwargs)


def test_batch_mismatch_raises(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    two = dataclasses.replace(positive, embeds=positive.embeds.repeat(2, 1, 1))
    with pytest.raises(ValueError, match="batch"):
        denoise(model, two, negative, Latent(torch.zeros(3, 4, 8, 8)), Noise(1), steps=1)


def test_result_is_a_cpu_float32_latent_and_keeps_the_mask(tiny, prompts):
    model, _, _ = tiny
    mask = torch.ones(1, 8, 8)
    out = _run(model, prompts, steps=2, latent=Latent(torch.zeros(SHAPE), noise_mask=mask))
    assert out.samples.device.type == "cpu" and out.samples.dtype == torch.float32
    assert out.noise_mask is mask


def test_zero_denoise_returns_the_input(counted, prompts):
    start = torch.randn(SHAPE)
    out = _run(counted, prompts, latent=Latent(start), denoise=0.0)
    assert torch.equal(out.samples, start)
    assert counted.denoiser.batches == []


def test_partial_denoise_runs_the_tail_of_the_schedule(counted, prompts):
    start = torch.randn(SHAPE)
    steps = []
    out = _run(counted, prompts, latent=Latent(start), steps=10, denoise=0.3,
               callback=lambda i, n, x0: steps.append(n))  # fmt: skip
    assert steps == [3, 3, 3]
    assert len(counted.denoiser.batches) == 3
    # Low strength stays near the input; full strength does not.
    full = _run(counted, prompts, latent=Latent(start), steps=10, denoise=1.0)
    assert (out.samples - start).abs().mean() < (full.samples - start).abs().mean()


def test_noise_mask_keeps_the_unmasked_area(tiny, prompts):
    model, _, _ = tiny
    original = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    free = _run(model, prompts, latent=Latent(original))
    keep_all = _run(model, prompts, latent=Latent(original, noise_mask=torch.zeros(1, 8, 8)))
    assert torch.equal(keep_all.samples, original)
    repaint_all = _run(model, prompts, latent=Latent(original, noise_mask=torch.ones(8, 8)))
    assert torch.allclose(repaint_all.samples, free.samples, atol=1e-6)
    # Pixel-resolution mask (16 x 16 for an 8 x 8 latent): left half kept, right half repainted.
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 8:] = 1.0
    previews = []
    half = _run(model, prompts, latent=Latent(original, noise_mask=mask),
                callback=lambda i, n, x0: previews.append(x0))  # fmt: skip
    assert torch.equal(half.samples[..., :4], original[..., :4])
    assert not torch.allclose(half.samples[..., 4:], original[..., 4:], atol=0.1)
    assert torch.equal(previews[0][..., :4], original[..., :4])


def _strip(output):
    """A step output without the scheduler's own x0, to force the computed fallback."""
    return type("Bare", (), {"prev_sample": output.prev_sample})()


@pytest.mark.parametrize(
    ("sampler", "prediction"),
    [("euler", "epsilon"), ("euler", "v_prediction"), ("heun", "epsilon")],
)
def test_computed_x0_matches_sigma_space_schedulers(tiny, sampler, prediction):
    model, _, _ = tiny
    config = model.scheduler_config | {"prediction_type": prediction}
    scheduler = make_scheduler(sampler, "normal", config)
    scheduler.set_timesteps(5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g) * scheduler.init_noise_sigma
    for t in scheduler.timesteps[:3]:
        model_output = torch.randn(SHAPE, generator=g)
        out = scheduler.step(model_output, t, x)
        expected = out.pred_original_sample
        got = _predicted_x0(scheduler, _strip(out), model_output, x, prediction)
        assert torch.allclose(got, expected, atol=1e-5)
        x = out.prev_sample


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("sampler", ["dpmpp_2m", "dpmpp_2m_sde", "unipc"])
def test_computed_x0_matches_alpha_space_schedulers(tiny, sampler, prediction):
    """DPM-Solver and UniPC return no x0; ours must equal their internal data prediction."""
    model, _, _ = tiny
    config = model.scheduler_config | {"prediction_type": prediction}
    scheduler = make_scheduler(sampler, "normal", config)
    scheduler.set_timesteps(5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g)
    for t in scheduler.timesteps[:3]:
        model_output = torch.randn(SHAPE, generator=g)
        if scheduler.step_index is None:
            scheduler._init_step_index(t)
        if sampler == "unipc":
            scheduler.config.predict_x0 = True
        expected = scheduler.convert_model_output(model_output, sample=x)
        out = scheduler.step(model_output, t, x)
        got = _predicted_x0(scheduler, out, model_output, x, prediction)
        assert torch.allclose(got, expected, atol=1e-5)
        x = out.prev_sample


def test_same_seed_same_result_different_seed_different(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    latent = Latent(torch.zeros(SHAPE))
    a = denoise(model, positive, negative, latent, Noise(5), steps=3, sampler="euler_ancestral")
    b = denoise(model, positive, negative, latent, Noise(5), steps=3, sampler="euler_ancestral")
    c = denoise(model, positive, negative, latent, Noise(6), steps=3, sampler="euler_ancestral")
    assert torch.equal(a.samples, b.samples)
    assert not torch.allclose(a.samples, c.samples)


def test_per_image_noise_reproduces_one_image_alone(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    batch = denoise(model, positive, negative, Latent(torch.zeros(3, 4, 8, 8)),
                    Noise(40, mode="per_image"), steps=3, sampler="euler_ancestral")  # fmt: skip
    alone = denoise(model, positive, negative, Latent(torch.zeros(SHAPE)),
                    Noise(41, mode="per_image"), steps=3, sampler="euler_ancestral")  # fmt: skip
    # A UNet batch of 3 sums in another order than a batch of 1 (float32 GEMM blocking), so the
    # two agree to rounding (~1e-6 relative), not bit for bit; another seed differs by O(1).
    scale = alone.samples.abs().max().item()
    assert (batch.samples[1:2] - alone.samples).abs().max().item() < 1e-5 * scale
    assert (batch.samples[0:1] - alone.samples).abs().max().item() > 0.1 * scale


def test_the_result_says_which_latent_space_it_is_in(tiny, prompts):
    model, _, _ = tiny
    assert Latent(samples=torch.zeros(SHAPE)).space is None
    assert _run(model, prompts, steps=1).space == model.family
