"""DeepFloyd IF, the open realization of Imagen: a cascade of pixel-space diffusion UNets
conditioned on T5 text states. Stage I draws a 64px image directly in pixels; stage II
upsamples 64 -> 256, its UNet seeing the noisy target concatenated with the noise-augmented
low-resolution image and the augmentation level as a class label. Both UNets predict the
noise and a learned variance (6 output channels), sampled with IF's DDPM scheduler
(``variance_type="learned_range"``, dynamic thresholding). No VAE: latents are pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.families.base import Component, LatentFormat, ModelFamily

# Pixels in -1..1; previews map them straight to RGB.
IF_PIXELS = LatentFormat(channels=3, scaling_factor=1.0, spatial_factor=1,
                         rgb_factors=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
                         pixels=True)


@dataclass(frozen=True)
class SRCondition:
    """How a super-resolution stage sees its low-resolution image (``ModelFamily.sr_condition``).

    ``resize``/``align_corners``: the ``F.interpolate`` mode to the target size (IF and the
    diffusers pipelines: bilinear with corners aligned). ``residual_scale``: when set, the
    denoiser predicts the clean image's difference from the resized, un-augmented input times
    this scale (its scheduler's ``prediction_type`` is "sample"); ``denoise`` adds the input back
    to every prediction, so flat regions come out exact and the network learns only the edges.
    """

    resize: str = "bilinear"
    align_corners: bool | None = True
    residual_scale: float | None = None


IF_SR_CONDITION = SRCondition()
_T5 = (
    Component("text_encoder", ("transformers.T5EncoderModel",), "text_encoder"),
    Component("tokenizer", ("transformers.T5Tokenizer", "transformers.T5TokenizerFast"),
              "tokenizer"),
)
_UNET = Component("unet", ("diffusers.UNet2DConditionModel",), "denoiser")
_SCHEDULER = Component("scheduler", ("diffusers.*",), "scheduler")


def _text_unet(config: dict[str, Any]) -> bool:
    """A UNet that embeds the T5 states itself (``addition_embed_type == "text"``) and
    predicts noise + variance for 3 pixel channels."""
    return config.get("addition_embed_type") == "text" and config.get("out_channels") == 6


class IFStage1(ModelFamily):
    id = "deepfloyd_if"
    label = "DeepFloyd IF stage I (64px)"
    components = (_UNET, _SCHEDULER, *_T5)
    text_encoding = "t5"
    latent = IF_PIXELS
    native_size = 64
    default_cfg = 7.0
    default_steps = 50

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return _text_unet(denoiser_config) and denoiser_config.get("in_channels") == 3


class IFStage2(ModelFamily):
    """Super-resolution: also has ``image_noising_scheduler/`` (the augmentation schedule).

    Its folder carries a second copy of stage I's T5-XXL (about 9.5 GB in float16): it is never
    loaded; the cascade feeds stage II the T5 states stage I's encoder made (as diffusers'
    docs do with ``text_encoder=None``)."""

    id = "deepfloyd_if_sr"
    label = "DeepFloyd IF stage II (super-resolution)"
    components = (_UNET, _SCHEDULER, Component("image_noising_scheduler", ("diffusers.*",),
                                               "scheduler"))
    text_encoders = ()
    text_encoding = "t5"
    latent = IF_PIXELS
    native_size = 256
    default_cfg = 4.0
    default_steps = 50

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (_text_unet(denoiser_config) and denoiser_config.get("in_channels") == 6
                and denoiser_config.get("class_embed_type") == "timestep")
