"""Flux.1 Fill and Kontext through our loader, the common inpainting path / reference latents
and the shared denoise loop equal diffusers' FluxFillPipeline / FluxKontextPipeline on tiny
random models saved with ``save_pretrained`` (same seed, CPU, max abs diff <= 1e-5)."""

from __future__ import annotations

import pytest
import torch

from pipelines.families import folder_family
from pipelines.families.flux_references import with_reference
from pipelines.families.flux_tokens import unpack
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.sampling.edit_conditioning import inpaint_model_conditioning
from pipelines.sampling.vae import encode
from pipelines.testing.tiny_flux_edit import build_tiny_flux_fill, build_tiny_flux_kontext
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"
NEGATIVE = "a blue dog"
TOL = 1e-5


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-edit")
    return {"fill": build_tiny_flux_fill(root / "fill"),
            "kontext": build_tiny_flux_kontext(root / "kontext")}


@pytest.fixture(scope="module")
def loaded(folders):
    return {v: load_checkpoint(f) for v, f in folders.items()}


def _pipe(cls, folder):
    pipe = cls.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generator(seed=0):
    return torch.Generator("cpu").manual_seed(seed)


def _mode(encoded, generator=None, sample_mode="sample"):
    return encoded.latent_dist.mode()  # ours encodes to the posterior's mode


def test_fill_is_detected_from_its_transformer_config(folders, loaded):
    assert folder_family(folders["fill"]) == "flux_fill"
    model = loaded["fill"][0]
    assert (model.family, model.latent_channels) == ("flux_fill", 16)
    assert model.denoiser.config.in_channels == 384


def test_fill_equals_flux_fill_pipeline(folders, loaded, monkeypatch):
    """The mask is cut into 8x8-pixel cells beside the masked image's latent, every step."""
    from diffusers import FluxFillPipeline
    from diffusers.pipelines.flux import pipeline_flux_fill

    monkeypatch.setattr(pipeline_flux_fill, "retrieve_latents", _mode)
    model, clip, vae = loaded["fill"]
    pipe = _pipe(FluxFillPipeline, folders["fill"])
    size = 64  # an 8x8 latent
    image = torch.rand(1, size, size, 3, generator=_generator(7))
    mask = torch.zeros(1, 1, size, size)
    mask[..., 16:48, 8:40] = 1.0
    ref = pipe(PROMPT, image=image.permute(0, 3, 1, 2), mask_image=mask, height=size,
               width=size, num_inference_steps=3, generator=_generator(),
               max_sequence_length=512, output_type="latent").images
    latent = inpaint_model_conditioning(vae, image, mask[0])
    out = denoise(model, encode_text(clip, PROMPT), None, latent, Noise(0), steps=3, cfg=1.0)
    assert (out.samples - unpack(ref, 8, 8)).abs().max() <= TOL


def test_fill_needs_the_masked_image(loaded):
    model, clip, _ = loaded["fill"]
    with pytest.raises(ValueError, match="inpainting model"):
        denoise(model, encode_text(clip, PROMPT), None,
                Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(0), steps=1, cfg=1.0)


def _kontext_inputs(loaded, size=16):
    model, clip, vae = loaded["kontext"]
    image = torch.rand(1, size, size, 3, generator=_generator(7))
    return model, clip, image, encode(vae, image).samples


@pytest.mark.parametrize("cfg", [1.0, 2.0])
def test_kontext_equals_flux_kontext_pipeline(folders, loaded, cfg):
    """The reference image's tokens are appended with first id axis 1 (both CFG halves)."""
    from diffusers import FluxKontextPipeline

    model, clip, image, reference = _kontext_inputs(loaded)
    pipe = _pipe(FluxKontextPipeline, folders["kontext"])
    extra = {"negative_prompt": NEGATIVE, "true_cfg_scale": cfg} if cfg != 1.0 else {}
    ref = pipe(image=image.permute(0, 3, 1, 2), prompt=PROMPT, height=16, width=16,
               num_inference_steps=3, generator=_generator(), _auto_resize=False, max_area=256,
               max_sequence_length=512, output_type="latent", **extra).images
    pos = with_reference(encode_text(clip, PROMPT), reference)
    neg = with_reference(encode_text(clip, NEGATIVE), reference) if cfg != 1.0 else None
    out = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(0),
                  steps=3, cfg=cfg)
    assert (out.samples - unpack(ref, 8, 8)).abs().max() <= TOL


def test_reference_only_on_the_positive_runs_each_half_alone(loaded):
    """A negative without the reference (ComfyUI's usual zeroed negative): the halves cannot
    share one batch, so each is its own call; the result equals two single-prompt runs."""
    from pipelines.families.flux import FluxDev

    model, clip, _, reference = _kontext_inputs(loaded)
    pos = with_reference(encode_text(clip, PROMPT), reference)
    neg = encode_text(clip, NEGATIVE)
    x = torch.randn(1, 16, 8, 8, generator=_generator(3))
    family = FluxDev()
    both = family.denoiser_inputs(model, torch.cat([neg.embeds, pos.embeds]), pos, neg, x,
                                  True, 2.0)
    alone = [family.denoiser_inputs(model, c.embeds, c, None, x, False, 1.0)
             for c in (neg, pos)]
    t = torch.tensor(500.0)
    with torch.no_grad():
        out = family.call_denoiser(model, torch.cat([x, x]), t, both)
        parts = [family.call_denoiser(model, x, t, inputs) for inputs in alone]
    assert (out - torch.cat(parts)).abs().max() <= TOL
    assert (parts[0] - parts[1]).abs().max() > 1e-4


def test_two_references_sit_side_by_side(loaded):
    from pipelines.families.flux_references import reference_tokens

    _, clip, _, reference = _kontext_inputs(loaded)
    cond = with_reference(with_reference(encode_text(clip, PROMPT), reference), reference)
    tokens, ids = reference_tokens(cond, 1, "cpu", torch.float32)
    assert tokens.shape == (1, 32, 64)
    assert ids[:, 0].eq(1).all()
    assert ids[16:, 1].min() == 4 and ids[16:, 2].max() == 3  # the second below the first


@pytest.mark.parametrize("layout", ["bfl", "diffusers"])
def test_fill_file_is_detected_from_its_header_and_loads_as_fill(loaded, tmp_path, layout):
    from pipelines.loading.detect import detect
    from pipelines.loading.flux_files import load_flux_transformer_file
    from pipelines.testing.tiny_flux import write_transformer_file

    model = loaded["fill"][0]
    prefix = "model.diffusion_model." if layout == "bfl" else ""
    path = write_transformer_file(model.denoiser, tmp_path / "flux1-fill-dev.safetensors",
                                  layout, prefix=prefix)
    found = detect(path)
    assert (found.kind, found.family) == ("unet", "flux_fill")
    from_file = load_flux_transformer_file(path)
    assert (from_file.family, from_file.latent_channels) == ("flux_fill", 16)
    a = from_file.denoiser.state_dict()
    assert all(torch.equal(a[k], v) for k, v in model.denoiser.state_dict().items())


def test_references_work_on_the_per_entry_path(loaded):
    """A conditioning with a step range (not plain) is predicted entry by entry, its
    uncond side built as a pair: the reference tokens follow."""
    from dataclasses import replace

    model, clip, _, reference = _kontext_inputs(loaded)
    pos = replace(with_reference(encode_text(clip, PROMPT), reference), end=0.5)
    neg = with_reference(replace(encode_text(clip, NEGATIVE), end=0.5), reference)
    zeros = Latent(samples=torch.zeros(1, 16, 8, 8))
    out = denoise(model, pos, neg, zeros, Noise(0), steps=2, cfg=2.0).samples
    plain = denoise(model, replace(pos, extras={**pos.extras, "reference_latents": ()}),
                    replace(neg, extras={**neg.extras, "reference_latents": ()}), zeros,
                    Noise(0), steps=2, cfg=2.0).samples
    assert torch.isfinite(out).all()
    assert (out - plain).abs().max() > 1e-4
