"""A tiny random Stable unCLIP (SD 2.1 unCLIP, ``StableUnCLIPImg2ImgPipeline``) folder, built
offline in about a second: an SD2-style UNet whose class embedding is a projection of a CLIP
image embedding plus its noise-level embedding (``class_embed_type="projection"``, twice the
embedding width), a v-prediction DDIM schedule, the ``image_normalizer`` (CLIP embedding
statistics, made random here so the normalisation is tested on more than 0 and 1), the
``image_noising_scheduler`` (squaredcos DDPM), and the CLIP vision encoder with its
``feature_extractor``. Saved with ``save_pretrained`` so the real loading path runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny import _UNET_BASE, _cached, tiny_parts

EMBED_DIM = 32  # the CLIP image embedding width (1024 in stable-diffusion-2-1-unclip)


def _image_encoder() -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, projection_dim=EMBED_DIM, num_hidden_layers=2,
        num_attention_heads=4, image_size=32, patch_size=4, hidden_act="gelu",
    )).eval()


def build_tiny_sd_unclip(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny ``StableUnCLIPImg2ImgPipeline`` folder; returns it."""
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        StableUnCLIPImg2ImgPipeline,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import CLIPImageProcessor

    with tiny_parts(directory, seed, **dict(_UNET_BASE, sample_size=16), cross_attention_dim=32,
                    attention_head_dim=(2, 4), use_linear_projection=True,
                    class_embed_type="projection",
                    projection_class_embeddings_input_dim=EMBED_DIM * 2) as parts:
        torch.manual_seed(seed + 1)
        image_encoder = _image_encoder()
        normalizer = StableUnCLIPImageNormalizer(embedding_dim=EMBED_DIM)
        with torch.no_grad():
            normalizer.mean.normal_(0, 0.5)
            normalizer.std.uniform_(0.5, 1.5)
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder, image_normalizer=normalizer,
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=parts.tokenizer, text_encoder=parts.text_encoder, unet=parts.unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                beta_end=0.012, prediction_type="v_prediction",
                                set_alpha_to_one=False, steps_offset=1),
        vae=parts.vae,
    )
    pipe.save_pretrained(parts.directory)
    shutil.rmtree(parts.directory / ".tokenizer", ignore_errors=True)
    return parts.directory


def tiny_sd_unclip_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny Stable unCLIP folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-sd-unclip", build_tiny_sd_unclip, seed)
