"""A tiny random Stable unCLIP (SD 2.1 unCLIP, ``StableUnCLIPImg2ImgPipeline``) folder, built
offline in about a second: an SD2-style UNet whose class embedding is a projection of a CLIP
image embedding plus its noise-level embedding (``class_embed_type="projection"``, twice the
embedding width), a v-prediction DDIM schedule, the ``image_normalizer`` (CLIP embedding
statistics, made random here so the normalisation is tested on more than 0 and 1), the
``image_noising_scheduler`` (squaredcos DDPM), and the CLIP vision encoder with its
``feature_extractor``. Saved with ``save_pretrained`` so the real loading path runs."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from pipelines.testing.tiny import _cached, _text_encoder, _vae, build_tokenizer

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
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import CLIPImageProcessor

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = build_tokenizer(scratch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=16, in_channels=4,
            out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
            attention_head_dim=(2, 4), use_linear_projection=True,
            class_embed_type="projection", projection_class_embeddings_input_dim=EMBED_DIM * 2,
        )
        torch.manual_seed(seed)
        vae = _vae()
        torch.manual_seed(seed)
        text_encoder = _text_encoder(len(tokenizer))
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
        tokenizer=tokenizer, text_encoder=text_encoder, unet=unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                beta_end=0.012, prediction_type="v_prediction",
                                set_alpha_to_one=False, steps_offset=1),
        vae=vae,
    )
    pipe.save_pretrained(directory)
    shutil.rmtree(directory / ".tokenizer", ignore_errors=True)
    return directory


def tiny_sd_unclip_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny Stable unCLIP folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-sd-unclip", build_tiny_sd_unclip, seed)
