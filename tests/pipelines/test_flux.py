"""Flux.1 dev and schnell through our loader, prompt encoder, shared denoise loop and VAE
decode equal diffusers' FluxPipeline / FluxImg2ImgPipeline / FluxInpaintPipeline on tiny random
components saved with ``save_pretrained`` (same seed, CPU, max abs diff <= 1e-5)."""

from __future__ import annotations

import pytest
import torch

from pipelines.families import folder_family, get_family
from pipelines.families.flux import pack, unpack
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_flux import build_tiny_flux
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"
NEGATIVE = "a blue dog"
TOL = 1e-5
SIZE = 16  # pixels: an 8x8 latent (tiny VAE downsamples 2x), 4x4 = 16 packed tokens


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-models")
    return {v: build_tiny_flux(root / f"flux-{v}", v) for v in ("dev", "schnell")}


@pytest.fixture(scope="module")
def loaded(folders):
    return {v: load_checkpoint(f) for v, f in folders.items()}


def _pipe(cls, folder):
    pipe = cls.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generator(seed=0):
    return torch.Generator("cpu").manual_seed(seed)


def _zeros(model):
    side = SIZE // model.vae_scale_factor
    return Latent(samples=torch.zeros(1, model.latent_channels, side, side))


def test_folders_are_detected_by_guidance_embeds(folders, loaded):
    assert folder_family(folders["dev"]) == "flux_dev"
    assert folder_family(folders["schnell"]) == "flux_schnell"
    model, clip, vae = loaded["dev"]
    assert (model.family, clip.family, model.latent_channels) == ("flux_dev", "flux_dev", 16)
    assert (vae.scaling_factor, vae.shift_factor) == (0.3611, 0.1159)
    assert model.latent_rgb_factors is not None and len(model.latent_rgb_factors) == 16
    assert get_family("flux_schnell").default_steps == 4
    assert get_family("flux_dev").schedule == "flow"


def test_packing_round_trips():
    x = torch.randn(2, 16, 6, 8)
    tokens = pack(x)
    assert tokens.shape == (2, 12, 64)
    assert torch.equal(unpack(tokens, 6, 8), x)


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_prompt_encoding_equals_flux_encode_prompt(folders, loaded, variant):
    from diffusers import FluxPipeline

    length = 512 if variant == "dev" else 256
    pipe = _pipe(FluxPipeline, folders[variant])
    with torch.no_grad():  # as in the pipeline's __call__ (autograd picks other kernels)
        embeds, pooled, text_ids = pipe.encode_prompt(PROMPT, max_sequence_length=length)
    cond = encode_text(loaded[variant][1], PROMPT)
    assert cond.embeds.shape == (1, length, 32)
    assert torch.equal(cond.embeds, embeds) and torch.equal(cond.extras["pooled"], pooled)
    assert not text_ids.any()


def _ours(loaded, variant, *, steps, cfg=1.0, negative=None, latent=None, strength=1.0,
          guidance=None):
    from pipelines.text.flux import with_guidance

    model, clip, vae = loaded[variant]
    pos = encode_text(clip, PROMPT)
    if guidance is not None:
        pos = with_guidance(pos, guidance)
    neg = encode_text(clip, negative) if negative is not None else None
    out = denoise(model, pos, neg, latent or _zeros(model), Noise(0), steps=steps, cfg=cfg,
                  denoise=strength)
    return out, vae


@pytest.mark.parametrize("variant,steps", [("dev", 3), ("schnell", 2)])
def test_txt2img_equals_flux_pipeline_including_decode(folders, loaded, variant, steps):
    from diffusers import FluxPipeline

    pipe = _pipe(FluxPipeline, folders[variant])
    length = 512 if variant == "dev" else 256
    kwargs = dict(height=SIZE, width=SIZE, num_inference_steps=steps, guidance_scale=3.5,
                  max_sequence_length=length)
    ref = pipe(PROMPT, generator=_generator(), output_type="latent", **kwargs).images
    ref_image = pipe(PROMPT, generator=_generator(), output_type="pt", **kwargs).images
    out, vae = _ours(loaded, variant, steps=steps)
    side = SIZE // 2
    assert (out.samples - unpack(ref, side, side)).abs().max() <= TOL
    image = decode(vae, out).permute(0, 3, 1, 2)
    assert (image - ref_image).abs().max() <= TOL


def test_dev_guidance_value_is_embedded(loaded):
    default, _ = _ours(loaded, "dev", steps=2)
    same, _ = _ours(loaded, "dev", steps=2, guidance=3.5)
    other, _ = _ours(loaded, "dev", steps=2, guidance=7.0)
    assert torch.equal(default.samples, same.samples)
    assert (default.samples - other.samples).abs().max() > 1e-4


def test_dev_true_cfg_with_a_negative_prompt_equals_true_cfg_scale(folders, loaded):
    from diffusers import FluxPipeline

    pipe = _pipe(FluxPipeline, folders["dev"])
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, true_cfg_scale=2.5, height=SIZE, width=SIZE,
               num_inference_steps=2, guidance_scale=3.5, generator=_generator(),
               output_type="latent").images
    out, _ = _ours(loaded, "dev", steps=2, cfg=2.5, negative=NEGATIVE)
    assert (out.samples - unpack(ref, SIZE // 2, SIZE // 2)).abs().max() <= TOL


def _source_latent(model):
    side = SIZE // model.vae_scale_factor
    return torch.randn(1, model.latent_channels, side, side, generator=_generator(7))


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_img2img_equals_flux_img2img_pipeline(folders, loaded, variant):
    from diffusers import FluxImg2ImgPipeline

    pipe = _pipe(FluxImg2ImgPipeline, folders[variant])
    source = _source_latent(loaded[variant][0])
    length = 512 if variant == "dev" else 256
    ref = pipe(PROMPT, image=source, strength=0.5, height=SIZE, width=SIZE,
               num_inference_steps=4, guidance_scale=3.5, generator=_generator(),
               max_sequence_length=length, output_type="latent").images
    out, _ = _ours(loaded, variant, steps=4, latent=Latent(samples=source), strength=0.5)
    assert (out.samples - unpack(ref, SIZE // 2, SIZE // 2)).abs().max() <= TOL


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_masked_inpainting_equals_flux_inpaint_pipeline(folders, loaded, variant):
    """A noise mask blends the original back after every step, as FluxInpaintPipeline. The
    pipeline samples the VAE posterior with the seed's generator; ours takes its mode, so its
    encoder is given the mode (the VAE encode itself is compared on the way)."""
    from diffusers import FluxInpaintPipeline

    from pipelines.sampling.vae import encode

    model, _, vae = loaded[variant]
    pipe = _pipe(FluxInpaintPipeline, folders[variant])
    image = torch.rand(1, SIZE, SIZE, 3, generator=_generator(7))
    source = encode(vae, image).samples
    encoded = []

    def encode_mode(image, generator):
        z = pipe.vae.encode(image).latent_dist.mode()
        encoded.append((z - pipe.vae.config.shift_factor) * pipe.vae.config.scaling_factor)
        return encoded[-1]

    pipe._encode_vae_image = encode_mode
    mask = torch.zeros(1, 1, SIZE // 2, SIZE // 2)
    mask[..., 2:6, 1:5] = 1.0  # repaint a block; nearest-resized the pipeline sees the same
    mask_image = torch.nn.functional.interpolate(mask, size=(SIZE, SIZE))
    length = 512 if variant == "dev" else 256
    ref = pipe(PROMPT, image=image.permute(0, 3, 1, 2), mask_image=mask_image, strength=0.75,
               height=SIZE, width=SIZE, num_inference_steps=4, guidance_scale=3.5,
               generator=_generator(), max_sequence_length=length, output_type="latent").images
    assert (encoded[0] - source).abs().max() <= TOL
    out, _ = _ours(loaded, variant, steps=4, latent=Latent(samples=source, noise_mask=mask[0]),
                   strength=0.75)
    ref = unpack(ref, SIZE // 2, SIZE // 2)
    assert (out.samples - ref).abs().max() <= TOL
    keep = mask.expand_as(source) == 0
    assert torch.equal(out.samples[keep], source[keep])  # the kept area is the original


def test_model_sampling_flux_fixes_the_shift_for_a_resolution(loaded):
    """ModelSamplingFlux for the latent's own size gives the default dynamic schedule."""
    from pipelines.families.flux import with_flux_shift

    model, clip, _ = loaded["dev"]
    cond = encode_text(clip, PROMPT)
    base = denoise(model, cond, None, _zeros(model), Noise(0), steps=3, cfg=1.0).samples
    same = with_flux_shift(model, 1.15, 0.5, 64, 64)  # 16 tokens of 16x16 px, as the latent
    other = with_flux_shift(model, 1.15, 0.5, 1024, 1024)
    assert model.scheduler_config["use_dynamic_shifting"] is True  # the input is untouched
    out_other = denoise(other, cond, None, _zeros(model), Noise(0), steps=3, cfg=1.0).samples
    assert (out_other - base).abs().max() > 1e-4
    assert same.scheduler_config["use_dynamic_shifting"] is False
    out_same = denoise(same, cond, None, _zeros(model), Noise(0), steps=3, cfg=1.0).samples
    assert (out_same - base).abs().max() <= TOL  # exp(mu) static shift == dynamic shift mu
