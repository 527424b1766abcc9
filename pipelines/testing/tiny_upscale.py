"""Tiny random SD upscalers with the real block layouts, shapes from diffusers' own fast tests
(tests/pipelines/stable_diffusion_2/test_stable_diffusion_upscale.py and
test_stable_diffusion_latent_upscale.py), saved with ``save_pretrained`` so tests load them
through our loader: the x4 upscaler (7-channel UNet with class-embedded noise level, VAE at 1/4,
v-prediction DDIM, DDPM ``low_res_scheduler``) and the latent x2 upscaler (K-block UNet with
Fourier time embedding, 8 -> 5 channels, Euler with ``prediction_type="sample"``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny import _text_encoder, build_tokenizer


def _x4_parts() -> dict[str, Any]:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64), layers_per_block=2, sample_size=32, in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, use_linear_projection=True,
        only_cross_attention=(True, True, False), num_class_embeds=100,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4, scaling_factor=0.08333,
    )
    return {"unet": unet, "vae": vae}


def _latent_x2_parts() -> dict[str, Any]:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet = UNet2DConditionModel(
        act_fn="gelu", attention_head_dim=8, norm_num_groups=None,
        block_out_channels=[32, 32, 64, 64], time_cond_proj_dim=160, conv_in_kernel=1,
        conv_out_kernel=1, cross_attention_dim=32,
        down_block_types=("KDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D",
                          "KCrossAttnDownBlock2D"),
        in_channels=8, mid_block_type=None, only_cross_attention=False, out_channels=5,
        resnet_time_scale_shift="scale_shift", time_embedding_type="fourier",
        timestep_post_act="gelu",
        up_block_types=("KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D",
                        "KUpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 64, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
    )
    return {"unet": unet.eval(), "vae": vae.eval()}


def build_tiny_upscaler(directory: str | Path, kind: str = "x4", seed: int = 0) -> Path:
    """Save a tiny x4 (``kind="x4"``) or latent x2 (``kind="latent_x2"``) upscaler folder.

    Raises:
        ValueError: another kind.
    """
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        EulerDiscreteScheduler,
        StableDiffusionLatentUpscalePipeline,
        StableDiffusionUpscalePipeline,
    )

    if kind not in ("x4", "latent_x2"):
        raise ValueError(f"the tiny upscalers are x4 and latent_x2, not {kind!r}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = build_tokenizer(scratch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = _x4_parts() if kind == "x4" else _latent_x2_parts()
        torch.manual_seed(seed)
        text_encoder = _text_encoder(len(tokenizer))
    if kind == "x4":
        pipe: Any = StableDiffusionUpscalePipeline(
            low_res_scheduler=DDPMScheduler(), scheduler=DDIMScheduler(
                prediction_type="v_prediction"), text_encoder=text_encoder,
            tokenizer=tokenizer, max_noise_level=350, **parts)
    else:
        pipe = StableDiffusionLatentUpscalePipeline(
            scheduler=EulerDiscreteScheduler(prediction_type="sample"),
            text_encoder=text_encoder, tokenizer=tokenizer, **parts)
    pipe.save_pretrained(folder)
    return folder
