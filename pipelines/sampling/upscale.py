"""The SD x4 upscaler (``StableDiffusionUpscalePipeline``) on our denoise loop.

The low-resolution image itself (no resize: the x4 VAE downsamples by 4, so the latent has the
image's size) is noise-augmented to ``noise_level`` with the model's ``low_res_scheduler``,
concatenated to the scaled latent every step and its level given as the UNet's class label.
Its augmentation noise is drawn before the initial latent noise, as the pipeline draws it, so
with the same seed the latent equals the pipeline's; VAE Decode (the model's x4 VAE) makes the
4x image.
"""

from __future__ import annotations

from typing import Any

import torch

from pipelines.errors import StudioError
from pipelines.sampling.image_condition import ImageCondition
from pipelines.sampling.superres import image_to_pixels
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

LOW_RES_SCHEDULER = "low_res_scheduler"
# the pipeline's own default (model_index.json "max_noise_level"); levels above it were not trained
MAX_NOISE_LEVEL = 350


class NotAnUpscaler(StudioError):
    """The model given to an upscale sampler is not that kind of upscaler."""


def upscale_x4(
    model: DiffusionModel, positive: Conditioning, negative: Conditioning | None,
    image: torch.Tensor, noise: Noise, *, noise_level: int = 20, sampler: str = "ddim",
    schedule: str = "normal", steps: int = 75, cfg: float = 9.0,
    device: str | torch.device = "cpu", callback: Any = None,
) -> Latent:
    """Sample the x4 upscaler's latent for ``image``.

    Args:
        model: An x4 upscaler (its ``schedulers`` hold ``low_res_scheduler``).
        positive, negative: Its prompt conditioning (its own text encoder's).
        image: IMAGE [B, H, W, 3] in 0..1, the low-resolution picture.
        noise: The seed: augmentation noise, then the initial latent noise, then per-step noise.
        noise_level: Augmentation timestep, 0 .. ``MAX_NOISE_LEVEL``.
        sampler, schedule, steps, cfg, device, callback: As for ``denoise``.

    Returns:
        A latent [B, 4, H, W] of the model's space: VAE Decode gives [B, 4H, 4W, 3].

    Raises:
        NotAnUpscaler: the model is not an x4 upscaler.
        ValueError: a noise level out of range, or an image under 8 pixels.
    """
    from pipelines.sampling.denoise import denoise

    config = model.schedulers.get(LOW_RES_SCHEDULER)
    if config is None:
        raise NotAnUpscaler(f"{model.source} is not an x4 upscaler (it has no "
                            "low_res_scheduler); load stable-diffusion-x4-upscaler")
    if not 0 <= noise_level <= MAX_NOISE_LEVEL:
        raise ValueError(f"noise level must be between 0 and {MAX_NOISE_LEVEL}, got {noise_level}")
    pixels = image_to_pixels(image)
    if min(pixels.shape[2:]) < 8:
        raise ValueError(f"the image is {pixels.shape[3]}x{pixels.shape[2]} pixels; the x4 "
                         "upscaler needs at least 8x8")
    condition = ImageCondition(pixels, noise_level, config, noise_first=True, scaled=False)
    start = Latent(samples=torch.zeros(pixels.shape[0], model.latent_channels,
                                       *pixels.shape[2:]), space=model.family)
    return denoise(model, positive, negative, start, noise, sampler=sampler, schedule=schedule,
                   steps=steps, cfg=cfg, device=device, callback=callback,
                   image_condition=condition)
