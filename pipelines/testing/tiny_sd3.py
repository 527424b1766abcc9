"""Tiny random Stable Diffusion 3 / 3.5 models: a one- or two-block ``SD3Transformer2DModel``
over 16-channel latents, CLIP-L and CLIP-G built from the shipped SD3 config templates with
their widths shrunk (the real 49,408-token CLIP tokenizer), a tiny T5 with an offline Unigram
tokenizer, a 16-channel ``AutoencoderKL`` without quant convs and SD3's flow-matching
scheduler (shift 3.0), saved through ``StableDiffusion3Pipeline.save_pretrained`` so tests load
them through our loader, plus the same weights as an original-layout all-in-one single file
and as separate transformer / clip_l / clip_g / t5xxl files (``pipelines.loading.sd3_convert``).

Variants: "sd3" (SD3 medium's layout: 64-wide heads, no q/k norm) and "sd35" (SD3.5 medium's:
RMS q/k norm and a dual-attention block; 8-wide heads, which the q/k norm weights reveal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.loading.readers import CONFIGS, clip_tokenizer, read_json
from pipelines.testing.tiny_if import build_t5_tokenizer

T5_WIDTH = 96  # >= CLIP-L + CLIP-G widths (32 + 48): the CLIP states are padded to it
_CLIP_WIDTHS = {"text_encoder": 32, "text_encoder_2": 48}
_TRANSFORMER: dict[str, dict[str, Any]] = {
    "sd3": dict(num_layers=1, attention_head_dim=64, num_attention_heads=1),
    # two blocks: SD3's last block takes no ControlNet residual (context_pre_only)
    "sd3_control": dict(num_layers=2, attention_head_dim=64, num_attention_heads=1),
    "sd35": dict(num_layers=2, attention_head_dim=8, num_attention_heads=4, qk_norm="rms_norm",
                 dual_attention_layers=(0,)),
}


@dataclass(frozen=True)
class TinySD3:
    """A tiny SD3 model: the diffusers ``folder``, the all-in-one ``file`` and the part files
    (``transformer``, ``clip_l``, ``clip_g``, ``t5xxl``) made from the same weights."""

    folder: Path
    file: Path
    transformer: Path
    clip_l: Path
    clip_g: Path
    t5xxl: Path


def _clip(slot: str, seed: int) -> Any:
    import transformers

    template = read_json(CONFIGS / "sd3" / slot / "config.json")
    width = _CLIP_WIDTHS[slot]
    config = {k: v for k, v in template.items() if k not in {"torch_dtype", "_name_or_path"}}
    config.update(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=3,
                  num_attention_heads=max(1, width // 64), projection_dim=width)
    torch.manual_seed(seed)
    return transformers.CLIPTextModelWithProjection(
        transformers.CLIPTextConfig.from_dict(config)).eval()


def build_t5_encoder(vocab_size: int, seed: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=T5_WIDTH, d_kv=8, d_ff=64, num_layers=2,
                      num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False)
    torch.manual_seed(seed)
    return T5EncoderModel(config).eval()


def build_vae(seed: int) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=16, norm_num_groups=32, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=1.5305, shift_factor=0.0609, sample_size=32,
    ).eval()


def build_transformer(variant: str, seed: int) -> Any:
    from diffusers import SD3Transformer2DModel

    if variant not in _TRANSFORMER:
        raise ValueError(f"tiny SD3 variants: {', '.join(_TRANSFORMER)}, not {variant!r}")
    shape = _TRANSFORMER[variant]
    width = shape["attention_head_dim"] * shape["num_attention_heads"]
    torch.manual_seed(seed)
    return SD3Transformer2DModel(
        sample_size=16, patch_size=2, in_channels=16, out_channels=16,
        caption_projection_dim=width, joint_attention_dim=T5_WIDTH,
        pooled_projection_dim=sum(_CLIP_WIDTHS.values()), pos_embed_max_size=24, **shape,
    ).eval()


def build_tiny_sd3_folder(directory: str | Path, variant: str = "sd35", seed: int = 0,
                          with_t5: bool = True) -> Path:
    """Save a tiny SD3 model as a diffusers folder (``with_t5=False``: no T5, as the pipeline
    allows) and return it."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    folder = Path(directory)
    tokenizer_3 = build_t5_tokenizer(max_length=256) if with_t5 else None
    pipe = StableDiffusion3Pipeline(
        transformer=build_transformer(variant, seed),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=build_vae(seed + 1),
        text_encoder=_clip("text_encoder", seed + 2), tokenizer=clip_tokenizer("<|endoftext|>"),
        text_encoder_2=_clip("text_encoder_2", seed + 3), tokenizer_2=clip_tokenizer("!"),
        text_encoder_3=build_t5_encoder(len(tokenizer_3), seed + 4) if with_t5 else None,
        tokenizer_3=tokenizer_3,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def build_tiny_sd3(directory: str | Path, variant: str = "sd35", seed: int = 0) -> TinySD3:
    """A tiny SD3 folder plus its original-layout files (all-in-one and per part), and the T5
    tokenizer folder that files without one need (``t5_tokenizer`` next to them)."""
    from pipelines.loading.convert import save_single_file
    from pipelines.loading.sd3_convert import pipeline_to_sd3_files

    root = Path(directory)
    folder = build_tiny_sd3_folder(root / "diffusers", variant, seed)
    files = root / "files"
    parts = pipeline_to_sd3_files(folder)
    out = {name: save_single_file(files / f"{name}.safetensors", state)
           for name, state in parts.items()}
    build_t5_tokenizer(max_length=256).save_pretrained(str(files / "t5_tokenizer"))
    return TinySD3(folder=folder, file=out["all_in_one"], transformer=out["transformer"],
                   clip_l=out["clip_l"], clip_g=out["clip_g"], t5xxl=out["t5xxl"])
