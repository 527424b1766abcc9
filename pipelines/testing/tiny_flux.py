"""Tiny random Flux.1 dev / schnell models (diffusers' own Flux fast-test shapes: one double
and one single block, 2 heads of 16) with Flux's real 16-channel latents and 2x2 packing, a tiny
CLIP-L, a tiny T5 with an offline Unigram tokenizer, the 16-channel VAE with Flux's scale and
shift, and each variant's scheduler config; saved with ``FluxPipeline.save_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny_if import T5_WIDTH, build_t5_encoder, build_t5_tokenizer

LATENT_CHANNELS = 16
CLIP_WIDTH = 32


def flux_scheduler(variant: str) -> Any:
    """The hub's scheduler config of FLUX.1-dev (dynamic shift) or FLUX.1-schnell (none)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    dev = variant == "dev"
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0 if dev else 1.0, use_dynamic_shifting=dev,
        base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)


def build_transformer(guidance: bool, seed: int = 0) -> Any:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=T5_WIDTH,
        pooled_projection_dim=CLIP_WIDTH, guidance_embeds=guidance, axes_dims_rope=[4, 4, 8],
    ).eval()


def build_vae(seed: int = 0) -> Any:
    """A 16-channel AutoencoderKL without quant convs (Flux's ``ae``), 2x downsampling."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=LATENT_CHANNELS,
        norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159,
    ).eval()


def build_clip(directory: Path, seed: int = 0) -> tuple[Any, Any]:
    from transformers import CLIPTextConfig, CLIPTextModel

    from pipelines.testing.tiny import TOKENIZER_MAX_LENGTH, build_tokenizer

    tokenizer = build_tokenizer(directory)
    vocab = len(tokenizer)
    config = CLIPTextConfig(
        bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1,
        hidden_size=CLIP_WIDTH, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab,
        max_position_embeddings=TOKENIZER_MAX_LENGTH, hidden_act="quick_gelu", projection_dim=32)
    torch.manual_seed(seed)
    return tokenizer, CLIPTextModel(config).eval()


def build_tiny_flux(directory: str | Path, variant: str = "dev", seed: int = 0) -> Path:
    """Save a tiny Flux.1 ``variant`` ("dev": guidance embeds, or "schnell") and return it.

    Raises:
        ValueError: another variant.
    """
    from diffusers import FluxPipeline

    if variant not in ("dev", "schnell"):
        raise ValueError(f"Flux variants here are dev and schnell, not {variant!r}")
    folder = Path(directory)
    tokenizer, text_encoder = build_clip(folder.parent / f".{folder.name}-clip-vocab", seed)
    tokenizer_2 = build_t5_tokenizer(max_length=512)
    torch.manual_seed(seed)
    text_encoder_2 = build_t5_encoder(len(tokenizer_2))
    pipe = FluxPipeline(
        scheduler=flux_scheduler(variant), vae=build_vae(seed), text_encoder=text_encoder,
        tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
        transformer=build_transformer(variant == "dev", seed))
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder
