"""Conditioning entries, areas, masks, strengths and step ranges in the denoise loop, against
ComfyUI's definition (``calc_cond_batch`` / ``get_area_and_mult``) on a tiny SD1 UNet."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from pipelines.families import get_family
from pipelines.sampling import conditioning_ops as ops
from pipelines.sampling.denoise import denoise
from pipelines.sampling.regional import regional_run
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise

SHAPE = (1, 4, 16, 16)


def _run(model, positive, negative=None, **kwargs):
    options = {"steps": 3, "cfg": 1.0 if negative is None else 6.0} | kwargs
    return denoise(model, positive, negative, Latent(samples=torch.zeros(SHAPE)), Noise(5),
                   **options).samples


class Recording:
    """A UNet that records the text states (first token) and timestep of every call."""

    def __init__(self, unet):
        self.unet, self.calls = unet, []
        self.config, self.dtype = unet.config, unet.dtype

    def __call__(self, sample, t, *args, **kwargs):
        self.calls.append((float(t), kwargs["encoder_hidden_states"][:, 0].clone(),
                           tuple(sample.shape)))
        return self.unet(sample, t, *args, **kwargs)


def test_combine_with_itself_equals_the_conditioning_alone(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    combined = ops.combine(positive, positive)
    assert len(combined.entries()) == 2 and not combined.plain
    assert torch.equal(_run(model, combined), _run(model, positive))
    guided = _run(model, combined, negative)
    assert torch.allclose(guided, _run(model, positive, negative), rtol=1e-4, atol=1e-4)


def test_an_area_over_the_whole_latent_equals_no_area(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    f = model.vae_scale_factor
    whole = ops.set_area(positive, 16 * f, 16 * f, 0, 0, 1.0)
    fraction = ops.set_area_percentage(positive, 1.0, 1.0, 0.0, 0.0, 1.0)
    plain = _run(model, positive)
    assert torch.equal(_run(model, whole), plain)
    assert torch.equal(_run(model, fraction), plain)
    half = ops.set_area(positive, 8 * f, 16 * f, 0, 0, 1.0)  # really acts: a different image
    assert not torch.allclose(_run(model, half, negative), _run(model, positive, negative),
                              atol=1e-2)


def test_zero_out_gives_zeros_and_keeps_everything_else(prompts):
    positive, _ = prompts
    cond = dataclasses.replace(positive, extras={"pooled": torch.ones(1, 8),
                                                 "guidance": torch.tensor(3.5)})
    zero = ops.zero_out(ops.combine(cond, cond))
    for entry in zero.entries():
        assert torch.equal(entry.embeds, torch.zeros_like(positive.embeds))
        assert torch.equal(entry.extras["pooled"], torch.zeros(1, 8))
        assert float(entry.extras["guidance"]) == 3.5


def test_full_timestep_range_changes_nothing(tiny, prompts):
    model, _, _ = tiny
    positive, negative = prompts
    ranged = ops.set_timestep_range(positive, 0.0, 1.0)
    assert torch.equal(_run(model, ranged, negative), _run(model, positive, negative))
    both = ops.combine(ranged, ops.set_timestep_range(positive, 0.0, 1.0))
    assert torch.equal(_run(model, both), _run(model, positive))


@pytest.mark.parametrize("switch", [0.3, 0.5, 0.8])
def test_disjoint_ranges_switch_the_prompt_at_the_right_step(tiny, prompts, switch):
    model, clip, _ = tiny
    from pipelines.text.conditioning import encode_text

    first, _ = prompts
    second = encode_text(clip, "a green triangle")
    recording = Recording(model.denoiser)
    wrapped = dataclasses.replace(model, denoiser=recording)
    cond = ops.combine(ops.set_timestep_range(first, 0.0, switch),
                       ops.set_timestep_range(second, switch, 1.0))
    _run(wrapped, cond, steps=6)
    assert len(recording.calls) == 6  # exactly one entry acts at each step
    for t, states, _ in recording.calls:
        # ComfyUI: an entry acts while sigma(t) is within [sigma(start), sigma(end)], where
        # the sigma of fraction p is the one of timestep (1 - p) * 999
        expected = first if t >= (1 - switch) * 999 else second
        assert torch.equal(states, expected.embeds[:, 0])


def _comfy_reference(unet, x, sigma, t, cond_list, uncond_list):
    """ComfyUI's calc_cond_batch (its first, slicing form), written out for this test:
    entries are dicts with embeds, area (h, w, y, x), strength, mask [1, H, W]. As in ComfyUI
    the model gives x0 estimates (k-diffusion's eps model: x0 = x - sigma eps on an input
    x / sqrt(sigma^2 + 1)), averaged; returned as the noise prediction they amount to."""
    c_in = (sigma**2 + 1) ** -0.5
    outs = []
    for entries in (uncond_list, cond_list):
        out = torch.zeros_like(x)
        count = torch.ones_like(x) * 1e-37
        for c in entries:
            area = c.get("area", (x.shape[2], x.shape[3], 0, 0))
            input_x = x[:, :, area[2]:area[0] + area[2], area[3]:area[1] + area[3]]
            if "mask" in c:
                mask = c["mask"][:, area[2]:area[0] + area[2], area[3]:area[1] + area[3]]
                mult = mask.unsqueeze(1).repeat(1, input_x.shape[1], 1, 1) * c.get("strength", 1.0)
            else:
                mult = torch.ones_like(input_x) * c.get("strength", 1.0)
                rr = 8
                if area[2] != 0:
                    for k in range(rr):
                        mult[:, :, k:1 + k, :] *= (1.0 / rr) * (k + 1)
                if area[0] + area[2] < x.shape[2]:
                    for k in range(rr):
                        mult[:, :, area[0] - 1 - k:area[0] - k, :] *= (1.0 / rr) * (k + 1)
                if area[3] != 0:
                    for k in range(rr):
                        mult[:, :, :, k:1 + k] *= (1.0 / rr) * (k + 1)
                if area[1] + area[3] < x.shape[3]:
                    for k in range(rr):
                        mult[:, :, :, area[1] - 1 - k:area[1] - k] *= (1.0 / rr) * (k + 1)
            eps = unet(input_x * c_in, t, encoder_hidden_states=c["embeds"]).sample
            pred = input_x - sigma * eps  # ComfyUI's apply_model: the denoised estimate
            out[:, :, area[2]:area[0] + area[2], area[3]:area[1] + area[3]] += pred * mult
            count[:, :, area[2]:area[0] + area[2], area[3]:area[1] + area[3]] += mult
        outs.append((x - out / count) / sigma)
    return torch.cat(outs)


def test_regions_match_comfyuis_weighting(tiny, prompts):
    model, clip, _ = tiny
    from pipelines.text.conditioning import encode_text

    a, negative = prompts
    b, c = encode_text(clip, "a green triangle"), encode_text(clip, "stars")
    f = model.vae_scale_factor
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:6, 1:7] = torch.linspace(0.2, 1.0, 6)
    positive = ops.combine(ops.combine(
        ops.set_area(a, 10 * f, 16 * f, 0, 0, 1.0),                  # left 10 columns
        ops.set_area_percentage(b, 0.5, 0.75, 0.5, 0.25, 0.5)),      # right half, rows 4..16
        ops.set_mask(c, mask, 0.7, False))                           # a soft mask, 8x8 -> 16x16
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    scheduler = make_scheduler("euler", "normal", model.scheduler_config)
    scheduler.set_timesteps(4)
    family = get_family(model.family)
    run = regional_run(model, family, positive, negative, x, True, 6.0, scheduler,
                       scheduler.timesteps, {})
    t, sigma = scheduler.timesteps[1], scheduler.sigmas[1]
    with torch.no_grad():
        ours = torch.cat(run.predict(1, t, x * (sigma**2 + 1) ** -0.5, {}, torch.float32))
        big_mask = F.interpolate(mask.unsqueeze(1), size=(16, 16), mode="bilinear",
                                 align_corners=False).squeeze(1)
        area_a, area_b = (16, 10, 0, 0), (12, 8, 4, 8)
        cond_list = [{"embeds": a.embeds, "area": area_a},
                     {"embeds": b.embeds, "area": area_b, "strength": 0.5},
                     {"embeds": c.embeds, "mask": big_mask * 0.7}]
        # create_cond_with_same_area_if_none: the negative gets each positive area
        uncond_list = [{"embeds": negative.embeds},
                       {"embeds": negative.embeds, "area": area_a},
                       {"embeds": negative.embeds, "area": area_b, "strength": 0.5}]
        reference = _comfy_reference(model.denoiser, x, sigma, t, cond_list, uncond_list)
    assert ours.shape == (2, *SHAPE[1:])
    assert (ours - reference).abs().max() < 1e-4 * reference.abs().max()


def test_combined_entries_get_control_hints_and_flux_guidance(prompts):
    from pipelines.sampling.control import apply_control
    from pipelines.text.flux import with_guidance
    from pipelines.values import ControlNet

    positive, negative = prompts
    area = ops.set_area(positive, 64, 64, 0, 0, 1.0)
    combined = ops.combine(area, positive)
    net = ControlNet(network=None, kind="controlnet", source="cn")
    pos, neg = apply_control(combined, negative, net, torch.zeros(1, 8, 8, 3))
    assert [len(e.control) for e in pos.entries()] == [1, 1] and len(neg.control) == 1
    assert pos.entries()[0].area == area.area  # the hint keeps the area
    guided = with_guidance(pos, 2.0)
    assert [float(e.extras["guidance"]) for e in guided.entries()] == [2.0, 2.0]
    assert [len(e.control) for e in guided.entries()] == [1, 1]


def test_concat_and_average_as_hand_made_tensors():
    from pipelines.values import Conditioning

    to = Conditioning(embeds=torch.arange(24.0).reshape(1, 3, 8),
                      extras={"pooled": torch.ones(1, 4)})
    source = Conditioning(embeds=-torch.ones(1, 2, 8), extras={"pooled": torch.zeros(1, 4)})
    joined = ops.concat(ops.combine(to, to), source)
    for entry in joined.entries():
        assert torch.equal(entry.embeds, torch.cat([to.embeds, source.embeds], dim=1))
        assert torch.equal(entry.extras["pooled"], torch.ones(1, 4))
    mixed = ops.average(to, source, 0.25)
    padded = torch.cat([source.embeds, torch.zeros(1, 1, 8)], dim=1)  # zero-padded to 3
    assert torch.allclose(mixed.embeds, to.embeds * 0.25 + padded * 0.75)
    assert torch.allclose(mixed.extras["pooled"], torch.full((1, 4), 0.25))
    cut = ops.average(source, to, 0.5)  # source is shorter: to's tokens are cut to 2
    assert torch.allclose(cut.embeds, source.embeds * 0.5 + to.embeds[:, :2] * 0.5)


def test_mixing_model_families_is_refused():
    from pipelines.errors import StudioError
    from pipelines.values import Conditioning

    sd1 = Conditioning(embeds=torch.zeros(1, 77, 768))
    sdxl = Conditioning(embeds=torch.zeros(1, 77, 2048), extras={"pooled": torch.zeros(1, 1280)})
    sdxl_wide = dataclasses.replace(sd1, extras={"pooled": torch.zeros(1, 1280)})
    for first, second in ((sd1, sdxl), (sd1, sdxl_wide)):
        with pytest.raises(StudioError, match="Conditioning Combine"):
            ops.combine(first, second)
    with pytest.raises(StudioError, match="Conditioning Concat"):
        ops.concat(sd1, sdxl)


@pytest.mark.parametrize("sampler", ["euler", "ddim", "dpmpp_2m"])
def test_a_cell_no_entry_covers_predicts_a_clean_sample_of_zero(tiny, prompts, sampler):
    """ComfyUI averages x0 estimates: where nothing counts, 0 / 1e-37 gives x0 = 0."""
    model, _, _ = tiny
    positive, _ = prompts
    f = model.vae_scale_factor
    left = ops.set_area(positive, 8 * f, 16 * f, 0, 0, 1.0)  # columns 0..7 only
    scheduler = make_scheduler(sampler, "normal", model.scheduler_config)
    scheduler.set_timesteps(4)
    run = regional_run(model, get_family(model.family), left, None, torch.zeros(SHAPE), False,
                       1.0, scheduler, scheduler.timesteps, {})
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    for step, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(x, t)
        with torch.no_grad():
            uncond, eps = run.predict(step, t, model_input, {}, torch.float32)
        assert uncond is None
        acp = scheduler.alphas_cumprod[int(t)]
        alpha_t, sigma_t = acp**0.5, (1 - acp) ** 0.5
        x0 = (model_input - sigma_t * eps) / alpha_t
        assert x0[..., 8:].abs().max() < 1e-4  # uncovered: a clean sample of 0
        assert x0[..., :7].abs().max() > 1e-2  # covered: the model's own estimate


def test_areas_resolve_as_comfyui_resolves_them(prompts):
    from pipelines.sampling.regions import add_opposites, resolve

    positive, negative = prompts
    mask = torch.zeros(32, 32)
    mask[6:10, 20:30] = 1.0  # 4 x 10 cells at (6, 20) on a 32 x 32 latent
    cond = ops.combine(ops.combine(
        ops.set_area(positive, 96, 64, 32, 16, 1.0),                   # // 8 at factor 8
        ops.set_area_percentage(positive, 0.26, 0.5, 0.5, 0.13, 1.0)),  # rounded, size >= 1
        ops.set_mask(positive, mask, 1.0, True))                       # bounds, >= 8 a side
    regions = resolve(cond, 32, 32, 8, torch.device("cpu"))
    assert [r.area for r in regions] == [(8, 12, 2, 4), (16, 8, 4, 16), (8, 10, 6, 20)]
    # each area gets the same area on the other side, with the smallest enclosing prompt
    wide = ops.combine(negative, ops.set_area(negative, 256, 256, 0, 0, 1.0))
    neg = resolve(wide, 32, 32, 8, torch.device("cpu"))
    pos = resolve(positive, 32, 32, 8, torch.device("cpu"))
    pos += regions[:1]
    add_opposites(pos, neg)
    assert [r.area for r in neg] == [None, (32, 32, 0, 0), (8, 12, 2, 4)]
    assert neg[2].cond.embeds is negative.embeds and neg[2].cond.area == regions[0].cond.area
    # and the negative's own area comes back to the positive (its plain prompt)
    assert [r.area for r in pos] == [None, (8, 12, 2, 4), (32, 32, 0, 0)]
    assert pos[2].cond.embeds is positive.embeds
