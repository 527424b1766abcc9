"""Tiny random Flux.1 Fill and Kontext models for parity tests: Fill is FLUX.1-Fill-dev's
layout (a transformer taking 384 packed input channels: 64 of the noisy latent, 64 of the
masked image's latent and 256 of the mask as 8x8 pixel cells) with an 8x VAE so the mask
cells are the real 64; Kontext is a dev model saved as ``FluxKontextPipeline`` (its weights are
a dev model's, reference images arrive as extra tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny_flux import (
    CLIP_WIDTH,
    LATENT_CHANNELS,
    build_clip,
    build_tiny_flux,
    flux_scheduler,
)
from pipelines.testing.tiny_if import T5_WIDTH, build_t5_encoder, build_t5_tokenizer

VAE_FACTOR = 8  # FLUX.1's ae: the mask is cut into 8x8-pixel cells, 64 channels per latent pixel
FILL_IN_CHANNELS = LATENT_CHANNELS * 4 * 2 + VAE_FACTOR * VAE_FACTOR * 4  # 384, as the real model


def build_vae8(seed: int = 0) -> Any:
    """A 16-channel AutoencoderKL without quant convs that downsamples 8x (4 levels of 32)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(32, 32, 32, 32), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=LATENT_CHANNELS, norm_num_groups=32, use_quant_conv=False,
        use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159,
    ).eval()


def build_fill_transformer(seed: int = 0) -> Any:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1, in_channels=FILL_IN_CHANNELS, out_channels=LATENT_CHANNELS * 4,
        num_layers=1, num_single_layers=1, attention_head_dim=32, num_attention_heads=2,
        joint_attention_dim=T5_WIDTH, pooled_projection_dim=CLIP_WIDTH, guidance_embeds=True,
        axes_dims_rope=[4, 14, 14],
    ).eval()


def build_tiny_flux_fill(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.1 Fill dev (``FluxFillPipeline``) and return its folder."""
    from diffusers import FluxFillPipeline

    folder = Path(directory)
    tokenizer, text_encoder = build_clip(folder.parent / f".{folder.name}-clip-vocab", seed)
    tokenizer_2 = build_t5_tokenizer(max_length=512)
    torch.manual_seed(seed)
    text_encoder_2 = build_t5_encoder(len(tokenizer_2))
    pipe = FluxFillPipeline(
        scheduler=flux_scheduler("dev"), vae=build_vae8(seed), text_encoder=text_encoder,
        tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
        transformer=build_fill_transformer(seed))
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def build_tiny_flux_kontext(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.1 Kontext dev (a dev model as ``FluxKontextPipeline``)."""
    from diffusers import FluxKontextPipeline, FluxPipeline

    folder = Path(directory)
    dev = build_tiny_flux(folder.parent / f".{folder.name}-dev", "dev", seed)
    components = FluxPipeline.from_pretrained(str(dev), local_files_only=True).components
    FluxKontextPipeline(**components).save_pretrained(str(folder), safe_serialization=True)
    return folder
