"""Stable Diffusion 3 / 3.5 through our loader, SD3 prompt encoding, flow-matching sampler and
VAE decode equals diffusers' StableDiffusion3Pipeline (and its img2img / inpaint pipelines) on
tiny random components saved with ``save_pretrained`` (same seed, CPU, max abs diff <= 1e-5)."""

from __future__ import annotations

import pytest
import torch

from pipelines.families import folder_family, get_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_sd3 import build_tiny_sd3
from pipelines.text.conditioning import encode_text
from pipelines.text.sd3 import encode_sd3_prompts
from pipelines.values import Latent, Noise

PROMPT, NEGATIVE = "a red cat on the mat", "a blue dog"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_sd3(tmp_path_factory.mktemp("sd3"), "sd35")


@pytest.fixture(scope="module")
def loaded(tiny):
    return load_checkpoint(tiny.folder)


@pytest.fixture(scope="module")
def pipe(tiny):
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(tiny.folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def test_folder_is_detected_and_loaded_with_16_channel_latents(tiny, loaded):
    from pipelines.loading.detect import detect

    assert folder_family(tiny.folder) == "sd3"
    assert detect(tiny.folder).describe() == "diffusers sd3"
    model, clip, vae = loaded
    family = get_family(model.family)
    assert (model.family, clip.family, family.schedule) == ("sd3", "sd3", "flow")
    assert model.latent_channels == 16 and len(model.latent_rgb_factors) == 16
    assert model.latent_rgb_bias == list(family.latent.rgb_bias)
    assert (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)
    assert [type(te).__name__ for _, te in clip.present()] == [
        "CLIPTextModelWithProjection", "CLIPTextModelWithProjection", "T5EncoderModel"]


def test_prompt_encoding_equals_encode_prompt(loaded, pipe):
    _, clip, _ = loaded
    with torch.no_grad():
        ref_pos, ref_neg, ref_pooled, ref_neg_pooled = pipe.encode_prompt(
            PROMPT, None, None, negative_prompt=NEGATIVE)
        split = pipe.encode_prompt("a cat", "a dog", "a red bird", do_classifier_free_guidance=False)
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    assert pos.embeds.shape == (1, 77 + 256, 96) and pos.pooled.shape == (1, 80)
    assert _diff(pos.embeds, ref_pos) == 0 and _diff(neg.embeds, ref_neg) == 0
    assert _diff(pos.pooled, ref_pooled) == 0 and _diff(neg.pooled, ref_neg_pooled) == 0
    three = encode_sd3_prompts(clip, "a cat", "a dog", "a red bird")
    assert _diff(three.embeds, split[0]) == 0 and _diff(three.pooled, split[2]) == 0


@pytest.mark.parametrize("cfg", [5.0, 1.0])
def test_txt2img_and_decode_equal_the_pipeline(loaded, pipe, cfg):
    model, clip, vae = loaded
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    ours = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 16, 16)), Noise(3),
                   sampler="euler", steps=4, cfg=cfg)
    kwargs = dict(negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=cfg,
                  height=32, width=32)
    ref = pipe(PROMPT, generator=torch.Generator().manual_seed(3), output_type="latent",
               **kwargs).images
    diff = _diff(ours.samples, ref)
    print(f"SD3 txt2img cfg {cfg} max abs diff: {diff}")
    assert diff <= TOLERANCE and ours.space == "sd3" and ours.samples.std() > 0.1
    image = decode(vae, ours)
    ref_image = pipe(PROMPT, generator=torch.Generator().manual_seed(3), output_type="pt",
                     **kwargs).images
    assert image.shape == (1, 32, 32, 3)
    assert _diff(image, ref_image.permute(0, 2, 3, 1)) <= TOLERANCE


def _start_latent() -> torch.Tensor:
    return torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(11))


def test_img2img_equals_the_img2img_pipeline(tiny, loaded, pipe):
    from diffusers import StableDiffusion3Img2ImgPipeline

    model, clip, _ = loaded
    start = _start_latent()
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    ours = denoise(model, pos, neg, Latent(samples=start), Noise(5), steps=4, cfg=4.5,
                   denoise=0.5)
    img2img = StableDiffusion3Img2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    ref = img2img(PROMPT, image=start, negative_prompt=NEGATIVE, strength=0.5,
                  num_inference_steps=4, guidance_scale=4.5, height=32, width=32,
                  generator=torch.Generator().manual_seed(5), output_type="latent").images
    diff = _diff(ours.samples, ref)
    print(f"SD3 img2img max abs diff: {diff}")
    assert diff <= TOLERANCE
    assert _diff(ours.samples, start) > 0.1  # it did sample


@pytest.mark.parametrize("strength", [1.0, 0.75])
def test_inpainting_by_mask_blending_equals_the_inpaint_pipeline(loaded, pipe, strength):
    from diffusers import StableDiffusion3InpaintPipeline

    model, clip, _ = loaded
    start = _start_latent()
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 4:20] = 1.0  # repaint here (aligned to the 2x latent grid)
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    latent = Latent(samples=start, noise_mask=mask[:, :, ::2, ::2].clone())
    ours = denoise(model, pos, neg, latent, Noise(9), steps=4, cfg=4.5, denoise=strength)
    inpaint = StableDiffusion3InpaintPipeline(**pipe.components)
    inpaint.set_progress_bar_config(disable=True)
    ref = inpaint(PROMPT, image=start, mask_image=mask, masked_image_latents=start,
                  negative_prompt=NEGATIVE,
                  strength=strength, num_inference_steps=4, guidance_scale=4.5, height=32,
                  width=32, generator=torch.Generator().manual_seed(9),
                  output_type="latent").images
    diff = _diff(ours.samples, ref)
    print(f"SD3 inpaint strength {strength} max abs diff: {diff}")
    assert diff <= TOLERANCE
    outside = latent.noise_mask.expand_as(start) == 0
    assert _diff(ours.samples[outside], start[outside]) < 1e-6  # kept where the mask is 0
    assert _diff(ours.samples, start) > 0.1


@pytest.mark.parametrize("sampler", ["heun", "dpmpp_2m"])
def test_flow_samplers_sample_sd3(loaded, sampler):
    model, clip, _ = loaded
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    out = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 16, 16)), Noise(3),
                  sampler=sampler, steps=4, cfg=4.5)
    euler = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 16, 16)), Noise(3),
                    sampler="euler", steps=4, cfg=4.5)
    assert torch.isfinite(out.samples).all() and out.samples.std() > 0.1
    assert _diff(out.samples, euler.samples) > 1e-4  # another solver, another path
    with pytest.raises(ValueError, match="flow-matching"):
        denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(3),
                sampler="lcm", steps=2, cfg=4.5)


def test_text_encode_sd3_node_gives_each_encoder_its_prompt(loaded, pipe):
    from types import SimpleNamespace

    from app.engine.registry import default_registry
    from nodes.sd3 import text_encode_sd3

    assert default_registry().get("conditioning.text_encode_sd3") is not None
    _, clip, _ = loaded
    out = text_encode_sd3(SimpleNamespace(device="cpu"), clip, "a cat", "a dog", "a red bird")
    with torch.no_grad():
        ref = pipe.encode_prompt("a cat", "a dog", "a red bird", do_classifier_free_guidance=False)
    assert _diff(out.embeds, ref[0]) == 0 and _diff(out.pooled, ref[2]) == 0
