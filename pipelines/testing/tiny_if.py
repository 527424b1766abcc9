"""Tiny random DeepFloyd IF stages (stage I: 3 -> 6 channel pixel UNet; stage II: the 64 ->
256 super-resolution UNet with the noise level as class label) with IF's real block types and
scheduler settings, a tiny T5 encoder and an offline Unigram T5 tokenizer, saved as diffusers
folders through ``IFPipeline`` / ``IFSuperResolutionPipeline.save_pretrained`` (the layout the
hub's IF folders have), so tests load them through our loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

_WORDS = ("a", "red", "blue", "green", "cat", "dog", "on", "the", "mat", "photo", "of", "small",
          "big", "house", "tree", "in", "snow", "painting", "bird", "sky")
T5_WIDTH = 32


def build_t5_tokenizer(max_length: int = 77) -> Any:
    """A T5 (Unigram) tokenizer over a few words and single letters, built offline."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + w, -float(i + 1)) for i, w in enumerate(_WORDS)]
    vocab += [("\u2581", -15.0)] + [(c, -20.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def build_t5_encoder(vocab_size: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=T5_WIDTH, d_kv=8, d_ff=37, num_layers=2,
                      num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False)
    return T5EncoderModel(config).eval()


def if_scheduler(**extra: Any) -> Any:
    """IF's denoising scheduler: learned-range variance, dynamic thresholding, cosine betas."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         beta_start=0.0001, beta_end=0.02, thresholding=True,
                         dynamic_thresholding_ratio=0.95, sample_max_value=1.0,
                         prediction_type="epsilon", variance_type="learned_range", **extra)


def _unet(stage: int) -> Any:
    from diffusers import UNet2DConditionModel

    common: dict[str, Any] = dict(
        sample_size=32, block_out_channels=[32, 64],
        down_block_types=["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
        out_channels=6, cross_attention_dim=32, encoder_hid_dim=T5_WIDTH, attention_head_dim=8,
        addition_embed_type="text", addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu",
    )
    if stage == 1:
        return UNet2DConditionModel(layers_per_block=1, in_channels=3, **common)
    return UNet2DConditionModel(
        layers_per_block=[1, 2], in_channels=6, class_embed_type="timestep",
        mid_block_scale_factor=1.414, time_embedding_act_fn="gelu", time_embedding_dim=32,
        **common)


def build_tiny_if(directory: str | Path, stage: int = 1, seed: int = 0) -> Path:
    """Save a tiny IF stage (1 or 2) as a diffusers folder and return it.

    Raises:
        ValueError: a stage other than 1 or 2.
    """
    from diffusers import DDPMScheduler, IFPipeline, IFSuperResolutionPipeline

    if stage not in (1, 2):
        raise ValueError(f"IF has stages 1 and 2 here, not {stage}")
    folder = Path(directory)
    tokenizer = build_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = build_t5_encoder(len(tokenizer))
    torch.manual_seed(seed)
    unet = _unet(stage).eval()
    parts: dict[str, Any] = dict(tokenizer=tokenizer, text_encoder=text_encoder, unet=unet,
                                 scheduler=if_scheduler(), safety_checker=None,
                                 feature_extractor=None, watermarker=None,
                                 requires_safety_checker=False)
    if stage == 1:
        pipe = IFPipeline(**parts)
    else:
        noising = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                beta_start=0.0001, beta_end=0.02)
        pipe = IFSuperResolutionPipeline(image_noising_scheduler=noising, **parts)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder
