"""Tiny random Kandinsky 2.2 prior and decoder folders, built offline in about a second.

The block layout follows diffusers' own fast tests for KandinskyV22PriorPipeline and
KandinskyV22Pipeline (widths shrunk; a 32px CLIP vision encoder instead of 224px); the
tokenizer is ``tiny.build_tokenizer``'s byte-level CLIP tokenizer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from pipelines.testing.tiny import TOKENIZER_MAX_LENGTH, _cached, _text_encoder, build_tokenizer

EMBED_DIM = 32
VISION_SIZE = 32


def _image_encoder() -> object:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=EMBED_DIM, image_size=VISION_SIZE, projection_dim=EMBED_DIM,
        intermediate_size=37, num_attention_heads=1, num_channels=3, num_hidden_layers=5,
        patch_size=8, hidden_act="gelu",  # OpenCLIP-like: gelu, heads of <= 64 channels
    ))


def image_processor() -> object:
    """The CLIP image processor (OpenAI CLIP's mean/std, bicubic resize, center crop)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        crop_size=VISION_SIZE, size=VISION_SIZE, do_center_crop=True, do_normalize=True,
        do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )


def prior_parts(directory: Path) -> tuple[object, object, object]:
    """The tokenizer (saved under ``directory/.tokenizer`` for the build), the CLIP text encoder
    with projection and the prior transformer of an unCLIP prior, drawn from the global RNG in
    that order: shared by the Kandinsky 2.2 prior and Karlo builders."""
    from diffusers import PriorTransformer

    tokenizer = build_tokenizer(directory / ".tokenizer")
    text_encoder = _text_encoder(len(tokenizer), projection_dim=EMBED_DIM)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12,
                             embedding_dim=EMBED_DIM, num_layers=1,
                             num_embeddings=TOKENIZER_MAX_LENGTH)
    return tokenizer, text_encoder, prior


def build_tiny_prior(directory: str | Path, seed: int = 0) -> Path:
    """A ``KandinskyV22PriorPipeline`` folder: prior, text encoder + tokenizer, image encoder +
    image processor, UnCLIPScheduler."""
    from diffusers import KandinskyV22PriorPipeline, UnCLIPScheduler

    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer, text_encoder, prior = prior_parts(directory)
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    image_encoder = _image_encoder()
    scheduler = UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                num_train_timesteps=1000, clip_sample=True,
                                clip_sample_range=10.0)
    pipe = KandinskyV22PriorPipeline(
        prior=prior, image_encoder=image_encoder, text_encoder=text_encoder,
        tokenizer=tokenizer, scheduler=scheduler, image_processor=image_processor(),
    )
    pipe.save_pretrained(directory)
    shutil.rmtree(directory / ".tokenizer", ignore_errors=True)
    return directory


def build_tiny_decoder(directory: str | Path, seed: int = 0) -> Path:
    """A ``KandinskyV22Pipeline`` folder: the image-embedding UNet, a MoVQ VQModel, DDIM."""
    from diffusers import DDIMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel

    directory = Path(directory)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64),
        layers_per_block=1, encoder_hid_dim=EMBED_DIM, encoder_hid_dim_type="image_proj",
        cross_attention_dim=32, attention_head_dim=4, resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )
    movq = VQModel(
        block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D",
                                                       "AttnDownEncoderBlock2D"],
        in_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        norm_type="spatial", num_vq_embeddings=12, out_channels=3,
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"], vq_embed_dim=4,
    )
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                              beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1,
                              prediction_type="epsilon", thresholding=False)
    KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).save_pretrained(directory)
    return directory


def tiny_prior_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny Kandinsky 2.2 prior folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-kandinsky22-prior", build_tiny_prior, seed)


def tiny_decoder_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny Kandinsky 2.2 decoder folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-kandinsky22", build_tiny_decoder, seed)
