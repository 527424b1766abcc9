"""Tiny random Flux.1 dev / schnell models (diffusers' Flux fast-test shapes: one double
and one single block; 2 heads of 32 so the rotary axes keep FLUX.1's 1/8 + 7/16 + 7/16 split) with Flux's real 16-channel latents and 2x2 packing, a tiny
CLIP-L, a tiny T5 with an offline Unigram tokenizer, the 16-channel VAE with Flux's scale and
shift, and each variant's scheduler config; saved with ``FluxPipeline.save_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny_if import T5_WIDTH, build_t5_encoder, build_t5_tokenizer

LATENT_CHANNELS = 16
CLIP_WIDTH = 64  # one head of 64, as CLIP-L's heads (files carry no head count)


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
        attention_head_dim=32, num_attention_heads=2, joint_attention_dim=T5_WIDTH,
        pooled_projection_dim=CLIP_WIDTH, guidance_embeds=guidance, axes_dims_rope=[4, 14, 14],
    ).eval()


def build_vae(seed: int = 0) -> Any:
    """A 16-channel AutoencoderKL without quant convs (Flux's ``ae``), 2x downsampling."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=LATENT_CHANNELS,
        norm_num_groups=32, use_quant_conv=False, use_post_quant_conv=False,
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
        num_attention_heads=1, num_hidden_layers=2, vocab_size=vocab,
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


def write_transformer_file(transformer: Any, path: str | Path, layout: str = "bfl",
                           dtype: torch.dtype | None = None, prefix: str = "") -> Path:
    """Save a Flux transformer as one .safetensors file the way users have them: ``layout``
    "bfl" (original names, ComfyUI's diffusion_models files) or "diffusers"; optionally cast
    (e.g. to ``torch.float8_e4m3fn``) and with a key ``prefix`` ("model.diffusion_model.")."""
    from safetensors.torch import save_file

    from pipelines.loading.flux_convert import diffusers_to_bfl

    state = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
    if layout == "bfl":
        state = diffusers_to_bfl(state)
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({prefix + k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_text_encoder_files(folder: str | Path, model_folder: str | Path) -> tuple[Path, Path]:
    """clip_l.safetensors and t5xxl.safetensors (ComfyUI's names and key layouts) from a tiny
    Flux folder's encoders, with ``clip_tokenizer`` / ``t5_tokenizer`` folders beside them
    (real files carry no tokenizer; real CLIP-L uses the one we ship)."""
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5Tokenizer

    folder, model_folder = Path(folder), Path(model_folder)
    folder.mkdir(parents=True, exist_ok=True)
    clip = CLIPTextModel.from_pretrained(str(model_folder / "text_encoder"))
    t5 = T5EncoderModel.from_pretrained(str(model_folder / "text_encoder_2"))
    clip_state = {k if k.startswith("text_model.") else f"text_model.{k}": v.contiguous()
                  for k, v in clip.state_dict().items()}
    save_file(clip_state, str(folder / "clip_l.safetensors"))
    t5_state = {k: v.detach().clone().contiguous() for k, v in t5.state_dict().items()}
    save_file(t5_state, str(folder / "t5xxl.safetensors"))
    CLIPTokenizer.from_pretrained(str(model_folder / "tokenizer")).save_pretrained(
        str(folder / "clip_tokenizer"))
    T5Tokenizer.from_pretrained(str(model_folder / "tokenizer_2")).save_pretrained(
        str(folder / "t5_tokenizer"))
    return folder / "clip_l.safetensors", folder / "t5xxl.safetensors"
