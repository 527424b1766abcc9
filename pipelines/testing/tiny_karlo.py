"""A tiny random Karlo (``UnCLIPPipeline``) folder, built offline in a few seconds.

Block layout after diffusers' fast tests for UnCLIPPipeline (widths shrunk): a prior, a 32px
pixel-space decoder with learned variance conditioned through ``UnCLIPTextProjModel``, and a
64px super-resolution pair (first / last step UNets). The learned unconditional image
embedding is made random so that guidance is tested on more than zeros.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from pipelines.testing.tiny import _cached
from pipelines.testing.tiny_kandinsky import EMBED_DIM, prior_parts


def _super_res() -> object:
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=64, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"),
        up_block_types=("ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"),
        in_channels=6, out_channels=3,
    )


def build_tiny_karlo(directory: str | Path, seed: int = 0) -> Path:
    """Save an UnCLIPPipeline's components (each folder with its own class)."""
    from diffusers import UnCLIPPipeline, UnCLIPScheduler, UNet2DConditionModel
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel

    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer, text_encoder, prior = prior_parts(directory)
    decoder = UNet2DConditionModel(
        sample_size=32, in_channels=3, out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64),
        layers_per_block=1, cross_attention_dim=EMBED_DIM, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type="identity",
    )
    text_proj = UnCLIPTextProjModel(clip_embeddings_dim=EMBED_DIM, time_embed_dim=32 * 4,
                                    cross_attention_dim=EMBED_DIM, clip_extra_context_tokens=4)
    with torch.no_grad():
        text_proj.learned_classifier_free_guidance_embeddings.normal_()
    pipe = UnCLIPPipeline(
        prior=prior, decoder=decoder, text_proj=text_proj, text_encoder=text_encoder,
        tokenizer=tokenizer, super_res_first=_super_res(), super_res_last=_super_res(),
        prior_scheduler=UnCLIPScheduler(variance_type="fixed_small_log",
                                        prediction_type="sample", num_train_timesteps=1000,
                                        clip_sample_range=5.0),
        decoder_scheduler=UnCLIPScheduler(variance_type="learned_range",
                                          prediction_type="epsilon", num_train_timesteps=1000),
        super_res_scheduler=UnCLIPScheduler(variance_type="fixed_small_log",
                                            prediction_type="epsilon", num_train_timesteps=1000),
    )
    pipe.save_pretrained(directory)
    shutil.rmtree(directory / ".tokenizer", ignore_errors=True)
    return directory


def tiny_karlo_path(cache_dir: str | Path, seed: int = 0) -> Path:
    """A cached tiny Karlo folder under ``cache_dir``, built once."""
    return _cached(cache_dir, "tiny-karlo", build_tiny_karlo, seed)
