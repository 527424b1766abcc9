"""Tiny random SD1.x/SDXL-shaped checkpoints for tests and benchmarks (offline, about a second).

Shapes follow diffusers' own StableDiffusionPipeline fast tests (``get_dummy_components``), and
everything is written with ``save_pretrained`` so the real loading path is exercised.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch

from pipelines.text.bpe import bytes_to_unicode

TOKENIZER_MAX_LENGTH = 77
_SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")

# The UNet layout both tiny families share (diffusers' own fast-test shapes).
_UNET_BASE = {
    "block_out_channels": (32, 64),
    "layers_per_block": 2,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
}

_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "epsilon",
}
_EULER_KEYS = ("beta_start", "beta_end", "beta_schedule", "num_train_timesteps", "steps_offset")




def build_tokenizer(directory: str | Path) -> object:
    """Build a byte-level CLIP tokenizer with no merges (one token per character).

    Args:
        directory: Scratch folder for the vocab and merges files.

    Returns:
        A ``transformers.CLIPTokenizer`` (ids: 512 characters, then start/end tokens).
    """
    from transformers import CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + list(_SPECIAL_TOKENS)
    vocab = {token: index for index, token in enumerate(tokens)}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(
        str(directory / "vocab.json"),
        str(directory / "merges.txt"),
        model_max_length=TOKENIZER_MAX_LENGTH,
    )


def _text_encoder(vocab_size: int, projection_dim: int | None = None) -> object:
    """CLIP text encoder from the diffusers fast tests (SDXL's second one has a projection)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=1000,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        hidden_act="quick_gelu" if projection_dim is None else "gelu",
        projection_dim=projection_dim or 512,
    )
    if projection_dim is None:
        return CLIPTextModel(config)
    return CLIPTextModelWithProjection(config)


def _vae() -> object:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )


class TinyParts(NamedTuple):
    """What every tiny SD-shaped folder starts from (``tiny_parts``)."""

    directory: Path
    tokenizer: Any
    unet: Any
    vae: Any
    text_encoder: Any


@contextmanager
def tiny_parts(directory: str | Path, seed: int, **unet_options: Any) -> Iterator[TinyParts]:
    """The folder (created), the tokenizer, and a ``UNet2DConditionModel(**unet_options)``,
    the tiny VAE and the CLIP text encoder, each drawn from ``seed`` under a forked RNG (the
    caller's RNG is left as it was). Parts a family adds are built inside the ``with`` block,
    under the same forked RNG."""
    from diffusers import UNet2DConditionModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = build_tokenizer(scratch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_options)
        torch.manual_seed(seed)
        vae = _vae()
        torch.manual_seed(seed)
        text_encoder = _text_encoder(len(tokenizer))
        yield TinyParts(directory, tokenizer, unet, vae, text_encoder)


def build_tiny_sd(directory: str | Path, seed: int = 0, inpainting: bool = False,
                  in_channels: int | None = None) -> Path:
    """Build and save a tiny random SD1.x-shaped diffusers checkpoint.

    UNet (block_out_channels (32, 64), 2 layers per block, cross-attention dim 32, latents
    4 x 32 x 32 for 64 x 64 images), AutoencoderKL (4 latent channels, scale factor 2), a
    5-layer CLIP text encoder (hidden 32) and a DDIM scheduler with SD1.5's betas (scaled_linear
    0.00085..0.012, 1000 steps, steps_offset 1, no clipping). Its family reads as "unknown"
    (cross-attention dim 32 is no real family's).

    Args:
        directory: Target folder (created; existing files are overwritten).
        seed: Seed for the random weights; the same seed gives the same weights.
        inpainting: Give the UNet 9 input channels (latent, mask, masked-image latent), as
            SD inpainting models have; it also runs in ``StableDiffusionInpaintPipeline``.
        in_channels: Another UNet input width (8: InstructPix2Pix, latent + image latent).

    Returns:
        The folder, ready for ``load_checkpoint`` or ``StableDiffusionPipeline.from_pretrained``.
    """
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    with tiny_parts(directory, seed, **dict(_UNET_BASE, in_channels=in_channels or (
            9 if inpainting else 4)), cross_attention_dim=32) as parts:
        pass  # SD draws no part beyond the common ones
    pipe = StableDiffusionPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        unet=parts.unet,
        scheduler=DDIMScheduler(**_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(parts.directory)
    return parts.directory


def build_tiny_sdxl(directory: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny random SDXL-shaped checkpoint (two text encoders, text_time UNet).

    Shapes follow diffusers' StableDiffusionXLPipeline fast tests: cross-attention dim 64
    (32 + 32 from the two encoders), pooled projection 32, time ids embedded in 8 dims.

    Args:
        directory: Target folder (created; existing files are overwritten).
        seed: Seed for the random weights.

    Returns:
        The folder, ready for ``load_checkpoint`` or ``StableDiffusionXLPipeline``.
    """
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    with tiny_parts(
        directory, seed, **_UNET_BASE,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids * 8 + pooled 32
        cross_attention_dim=64,
    ) as parts:
        torch.manual_seed(seed + 1)
        text_encoder_2 = _text_encoder(len(parts.tokenizer), projection_dim=32)
    pipe = StableDiffusionXLPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=parts.tokenizer,
        tokenizer_2=parts.tokenizer,
        unet=parts.unet,
        scheduler=EulerDiscreteScheduler(
            **{k: _SCHEDULER_CONFIG[k] for k in _EULER_KEYS}, timestep_spacing="leading"
        ),
    )
    pipe.save_pretrained(parts.directory)
    return parts.directory


def _cached(cache_dir: str | Path, name: str, build: Callable[..., Path], seed: int) -> Path:
    """``cache_dir/<name>-seed<seed>``, built once by ``build``: into a scratch folder that is
    renamed into place, so concurrent callers never see a half-written model."""
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{name}-seed{seed}"
    if (target / "model_index.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        build(scratch, seed=seed)
        try:
            os.replace(scratch, target)
        except OSError:  # another process finished first
            if not (target / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def tiny_sd_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny SD checkpoint folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-sd", build_tiny_sd, seed)


def tiny_sdxl_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """Like ``tiny_sd_path`` for the tiny SDXL checkpoint."""
    return _cached(cache_dir, "tiny-sdxl", build_tiny_sdxl, seed)
