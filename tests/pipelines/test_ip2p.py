"""InstructPix2Pix: the sd1_ip2p family (8-channel UNet, image latent concatenated every step)
samples like diffusers' StableDiffusionInstructPix2PixPipeline, at image_guidance_scale 1
(ComfyUI's CFG with the image on both sides) and at another value (the folded third branch)."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.denoise import denoise
from pipelines.sampling.edit_conditioning import instruct_pix2pix_conditioning
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Noise

TOL = 1e-5  # relative to the latents' size (about 16 here): diffusers guides as
# U + g (T - I) + s (I - U), the loop as I + g (T - I) (+ the folded third branch): the same
# value, rounded differently; without guidance the latents are identical (0.0)
PROMPT = "make it snow"
SIZE = 32  # the tiny VAE's factor is 2: latents 16 x 16


@pytest.fixture(scope="module")
def ip2p_dir(tmp_path_factory):
    from pipelines.testing.tiny_ip2p import build_tiny_ip2p

    return build_tiny_ip2p(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="module")
def ip2p(ip2p_dir):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.text.conditioning import encode_text

    model, clip, vae = load_checkpoint(ip2p_dir)
    return model, vae, encode_text(clip, PROMPT), encode_text(clip, "")


@pytest.fixture(scope="module")
def ip2p_pipe(ip2p_dir):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
        ip2p_dir, local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image() -> torch.Tensor:
    return torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(1))


def test_an_eight_channel_sd1_unet_is_the_ip2p_family(ip2p, tmp_path):
    from pipelines.families import detect_family, get_family
    from pipelines.loading.detect import detect_header

    model = ip2p[0]
    assert model.family == "sd1_ip2p" and model.denoiser.config.in_channels == 8
    assert not model.inpainting
    assert detect_family({}, {"cross_attention_dim": 768, "in_channels": 8}) == "sd1_ip2p"
    assert detect_family({}, {"cross_attention_dim": 768, "in_channels": 4}) == "sd1"
    prefix = "model.diffusion_model."
    header = {prefix + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
              {"shape": [320, 768]},
              "cond_stage_model.transformer.text_model.final_layer_norm.weight": {"shape": [768]}}
    for channels, family in ((8, "sd1_ip2p"), (4, "sd1"), (9, "sd1")):
        header[prefix + "input_blocks.0.0.weight"] = {"shape": [320, channels, 3, 3]}
        assert detect_header(header).family == family
    assert get_family("sd1_ip2p").denoiser_in_channels(model) == 4


@pytest.mark.parametrize(("sampler", "cfg", "image_cfg"), [
    ("euler", 1.0, 1.0), ("euler", 7.5, 1.0), ("ddim", 7.5, 1.0), ("euler", 7.5, 1.5)])
def test_matches_the_diffusers_instruct_pix2pix_pipeline(ip2p, ip2p_pipe, sampler, cfg,
                                                         image_cfg):
    model, vae, positive, negative = ip2p
    image = _image()
    pos, neg, latent = instruct_pix2pix_conditioning(vae, image, positive, negative, image_cfg)
    assert latent.samples.shape == (1, 4, 16, 16) and not latent.samples.any()
    ours = denoise(model, pos, neg, latent, Noise(11), sampler=sampler, steps=4, cfg=cfg).samples
    ip2p_pipe.scheduler = make_scheduler(sampler, "normal", model.scheduler_config)
    theirs = ip2p_pipe(
        PROMPT, image=image.permute(0, 3, 1, 2).contiguous(), negative_prompt="",
        num_inference_steps=4, guidance_scale=cfg, image_guidance_scale=image_cfg,
        generator=torch.Generator("cpu").manual_seed(11), output_type="latent").images
    difference = (ours - theirs).abs().max().item()
    if cfg == 1.0:
        assert difference == 0.0
    else:
        assert difference <= TOL * theirs.abs().max().item()


def test_the_image_matters_and_cfg_one_runs_one_branch(ip2p):
    model, vae, positive, negative = ip2p
    image = _image()
    pos, neg, latent = instruct_pix2pix_conditioning(vae, image, positive, negative)
    other = instruct_pix2pix_conditioning(vae, 1 - image, positive, negative)
    a = denoise(model, pos, neg, latent, Noise(3), steps=3, cfg=1.0).samples
    b = denoise(model, other[0], other[1], other[2], Noise(3), steps=3, cfg=1.0).samples
    assert (a - b).abs().max() > 1e-3
    # without the conditioning's image the UNet sees zeros (as ComfyUI), and still runs
    plain = denoise(model, positive, negative, latent, Noise(3), steps=3, cfg=7.5).samples
    assert torch.isfinite(plain).all()
