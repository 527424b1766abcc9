"""A low-resolution image a super-resolution denoiser sees beside the sample every step
(DeepFloyd IF stage II, the SD x4 upscaler): noise-augmented, concatenated to the input channels, its noise level
given as the UNet's class label. ``pipelines.sampling.superres`` builds it; ``denoise`` uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipelines.sampling.noise import randn


@dataclass(frozen=True)
class ImageCondition:
    """A low-resolution image the denoiser sees beside the sample every step.

    ``image``: [B, 3, H, W] in -1..1, already at the sample's size. ``noise_level``: the
    augmentation timestep (0 = clean). ``noising_config``: the augmentation scheduler's config.
    """

    image: torch.Tensor
    noise_level: int
    noising_config: dict[str, Any]
    # SD x4 upscaler: its augmentation noise is drawn before the initial noise, and the image
    # joins the sample after ``scale_model_input`` (IF: after the initial noise, scaled too)
    noise_first: bool = False
    scaled: bool = True
    # a residual stage (``SRCondition.residual_scale``): its prediction is the clean image's
    # difference from ``image`` times this scale; ``denoise`` adds ``image`` back
    residual_scale: float | None = None

    def residual(self, device: torch.device) -> tuple[torch.Tensor, float] | None:
        """(the clean resized image on ``device``, 1 / scale), or None for a plain stage."""
        if self.residual_scale is None:
            return None
        return self.image.float().to(device), 1.0 / self.residual_scale

    def prepare(self, generator: Any, device: torch.device,
                cfg_batch: bool) -> tuple[torch.Tensor, dict[str, Any]]:
        """The noised image to concatenate and the denoiser's extra inputs; its noise is drawn
        from ``generator`` right after the initial noise, as the IF pipeline draws it."""
        from diffusers import DDPMScheduler

        image = self.image.float()
        noise = randn(tuple(image.shape), generator, image.dtype)
        level = torch.tensor([self.noise_level] * image.shape[0])
        noised = DDPMScheduler.from_config(self.noising_config).add_noise(image, noise, level)
        if cfg_batch:
            level = torch.cat([level] * 2)
        return noised.to(device), {"class_labels": level.to(device)}
