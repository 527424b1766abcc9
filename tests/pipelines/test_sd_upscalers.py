"""The SD x4 upscaler through our loader, CLIP encoding, denoise loop (augmented low-res image
concatenated, noise level as class label, v-prediction) and VAE decode equals diffusers'
StableDiffusionUpscalePipeline on tiny random components saved with ``save_pretrained``."""

from __future__ import annotations

import pytest
import torch

from pipelines.families import folder_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.superres import image_to_pixels
from pipelines.sampling.upscale import NotAnUpscaler, upscale_x4
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_upscale import build_tiny_upscaler
from pipelines.text.conditioning import encode_text
from pipelines.values import Noise

PROMPT = "a painting of a squirrel"


@pytest.fixture(scope="module")
def x4_folder(tmp_path_factory):
    return build_tiny_upscaler(tmp_path_factory.mktemp("x4") / "x4", kind="x4")


@pytest.fixture(scope="module")
def x4(x4_folder):
    return load_checkpoint(x4_folder)


def _low_image(seed: int = 1, size: int = 12) -> torch.Tensor:
    return torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_x4_folder_is_detected_and_loaded_with_its_low_res_scheduler(x4_folder, x4):
    model, clip, vae = x4
    assert folder_family(x4_folder) == "sd_x4_upscaler" == model.family
    assert model.schedulers["low_res_scheduler"]["_class_name"] == "DDPMScheduler"
    assert model.prediction_type == "v_prediction" and model.vae_scale_factor == 4
    assert vae is not None and vae.scaling_factor == pytest.approx(0.08333)
    assert clip.text_encoder is not None
    from pipelines.loading.detect import detect

    assert detect(x4_folder).describe().startswith("diffusers sd_x4_upscaler (an upscaler")


@pytest.mark.parametrize("cfg", [6.0, 1.0])
def test_x4_upscale_equals_stable_diffusion_upscale_pipeline(x4_folder, x4, cfg):
    from diffusers import StableDiffusionUpscalePipeline

    model, clip, vae = x4
    low = _low_image()
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "")
    latent = upscale_x4(model, pos, neg, low, Noise(7), noise_level=20, sampler="ddim",
                        steps=3, cfg=cfg)
    ours = decode(vae, latent)
    pipe = StableDiffusionUpscalePipeline.from_pretrained(x4_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(image=low.permute(0, 3, 1, 2), num_inference_steps=3, guidance_scale=cfg,
                  noise_level=20)
    ref_latent = pipe(PROMPT, generator=torch.Generator().manual_seed(7), output_type="latent",
                      **kwargs).images
    ref = pipe(PROMPT, generator=torch.Generator().manual_seed(7), output_type="pt",
               **kwargs).images
    assert latent.samples.shape == (1, 4, 12, 12) and ours.shape == (1, 48, 48, 3)
    latent_diff = (latent.samples - ref_latent).abs().max().item()
    image_diff = (ours - ref.permute(0, 2, 3, 1)).abs().max().item()
    print(f"x4 upscaler cfg {cfg}: max abs diff latent {latent_diff}, image {image_diff}")
    assert latent_diff <= 1e-5 and image_diff <= 1e-5
    # the low-resolution image conditions the result
    other = upscale_x4(model, pos, neg, 1 - low, Noise(7), steps=3, cfg=cfg)
    assert (other.samples - latent.samples).abs().max() > 1e-3


def test_x4_refuses_other_models_and_bad_levels(x4):
    model, clip, _ = x4
    pos = encode_text(clip, PROMPT)
    other = type(model)(**{**model.__dict__, "schedulers": {}})
    with pytest.raises(NotAnUpscaler, match="not an x4 upscaler"):
        upscale_x4(other, pos, pos, _low_image(), Noise(0), steps=1)
    with pytest.raises(ValueError, match="noise level"):
        upscale_x4(model, pos, pos, _low_image(), Noise(0), steps=1, noise_level=351)
    with pytest.raises(ValueError, match="8x8"):
        upscale_x4(model, pos, pos, _low_image(size=4), Noise(0), steps=1)
    from pipelines.sampling.denoise import denoise
    from pipelines.values import Latent

    with pytest.raises(ValueError, match="super-resolution"):
        denoise(model, pos, pos, Latent(samples=torch.zeros(1, 4, 8, 8)), Noise(0), steps=1)
    assert image_to_pixels(_low_image()).shape == (1, 3, 12, 12)


# --- the latent x2 upscaler ------------------------------------------------------------------

@pytest.fixture(scope="module")
def x2_folder(tmp_path_factory):
    return build_tiny_upscaler(tmp_path_factory.mktemp("x2") / "x2", kind="latent_x2")


@pytest.fixture(scope="module")
def x2(x2_folder):
    return load_checkpoint(x2_folder)


def test_latent_x2_folder_is_detected_and_encodes_states_before_the_final_norm(x2_folder, x2):
    from diffusers import StableDiffusionLatentUpscalePipeline

    model, clip, vae = x2
    assert folder_family(x2_folder) == "sd_x2_latent_upscaler" == model.family
    cond = encode_text(clip, PROMPT)
    pipe = StableDiffusionLatentUpscalePipeline.from_pretrained(x2_folder, local_files_only=True)
    embeds, neg, pooled, neg_pooled = pipe.encode_prompt(PROMPT, "cpu", True, "")
    assert torch.equal(cond.embeds, embeds) and torch.equal(cond.extras["pooled"], pooled)
    empty = encode_text(clip, "")
    assert torch.equal(empty.embeds, neg) and torch.equal(empty.extras["pooled"], neg_pooled)


@pytest.mark.parametrize("cfg", [9.0, 1.0])
def test_latent_x2_equals_stable_diffusion_latent_upscale_pipeline(x2_folder, x2, cfg):
    from diffusers import StableDiffusionLatentUpscalePipeline

    from pipelines.sampling.latent_upscale import upscale_latent_x2
    from pipelines.values import Latent

    model, clip, vae = x2
    low = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "")
    steps: list[int] = []
    ours = upscale_latent_x2(model, pos, neg, Latent(samples=low, space="sd1"), Noise(4),
                             steps=3, cfg=cfg, callback=lambda i, n, x0: steps.append(i))
    pipe = StableDiffusionLatentUpscalePipeline.from_pretrained(x2_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, image=low, num_inference_steps=3, guidance_scale=cfg,
               generator=torch.Generator().manual_seed(4), output_type="latent").images
    assert ours.samples.shape == (1, 4, 16, 16) and ours.space == "sd1" and steps == [0, 1, 2]
    diff = (ours.samples - ref).abs().max().item()
    print(f"latent x2 upscaler cfg {cfg}: max abs diff latent {diff}")
    assert diff <= 1e-5
    image = decode(vae, ours)
    ref_image = pipe(PROMPT, image=low, num_inference_steps=3, guidance_scale=cfg,
                     generator=torch.Generator().manual_seed(4), output_type="pt").images
    assert (image - ref_image.permute(0, 2, 3, 1)).abs().max().item() <= 1e-5
    other = upscale_latent_x2(model, pos, neg, Latent(samples=-low), Noise(4), steps=3, cfg=cfg)
    assert (other.samples - ours.samples).abs().max() > 1e-3


def test_latent_x2_refuses_other_models_latents_and_prompts(x2, x4):
    from pipelines.sampling.latent_upscale import NotALatentUpscaler, upscale_latent_x2
    from pipelines.values import Latent

    model, clip, _ = x2
    pos = encode_text(clip, PROMPT)
    low = Latent(samples=torch.zeros(1, 4, 8, 8))
    with pytest.raises(NotALatentUpscaler, match="not the SD latent x2 upscaler"):
        upscale_latent_x2(x4[0], pos, pos, low, Noise(0), steps=1)
    with pytest.raises(ValueError, match="channels"):
        upscale_latent_x2(model, pos, pos, Latent(samples=torch.zeros(1, 3, 8, 8)), Noise(0),
                          steps=1)
    with pytest.raises(ValueError, match="pixel space"):
        upscale_latent_x2(model, pos, pos, Latent(samples=torch.zeros(1, 3, 8, 8),
                                                  space="deepfloyd_if"), Noise(0), steps=1)
    x4_prompt = encode_text(x4[1], PROMPT)  # a plain CLIP encoding has no pooled output
    with pytest.raises(ValueError, match="own text encoder"):
        upscale_latent_x2(model, x4_prompt, x4_prompt, low, Noise(0), steps=1)
