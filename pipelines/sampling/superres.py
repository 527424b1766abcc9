"""Pixel-space diffusion outputs and cascaded super-resolution (DeepFloyd IF stage II).

A pixel-space family's "latent" is the image in -1..1 (``LatentFormat.pixels``);
``pixels_to_image`` is its decoder. ``super_resolve`` samples a larger image conditioned on a
smaller one as ``IFSuperResolutionPipeline`` does: the small image is resized (bilinear,
corners aligned; a family's ``sr_condition`` may say otherwise) to the target size, noise-augmented to ``noise_level`` with the model's
``image_noising_scheduler``, concatenated to the sample's channels at every step, and the
level is the UNet's class label. With the same seed the result equals diffusers' pipeline.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from pipelines.families import get_family
from pipelines.families.deepfloyd_if import IF_SR_CONDITION, SRCondition
from pipelines.sampling.image_condition import ImageCondition
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

NOISING_SCHEDULER = "image_noising_scheduler"


def pixels_to_image(latent: Latent) -> torch.Tensor:
    """A pixel-space latent [B, 3, H, W] in -1..1 as an IMAGE [B, H, W, 3] in 0..1."""
    return (latent.samples.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def image_to_pixels(image: torch.Tensor) -> torch.Tensor:
    """An IMAGE [B, H, W, 3] in 0..1 as pixels [B, 3, H, W] in -1..1."""
    return image.float().permute(0, 3, 1, 2) * 2 - 1


def resize_for_stage(pixels: torch.Tensor, size: tuple[int, int],
                     spec: SRCondition = IF_SR_CONDITION) -> torch.Tensor:
    """Pixels [B, 3, h, w] resized to ``size`` (H, W) as a stage with ``spec`` sees them."""
    align = spec.align_corners if spec.resize in ("bilinear", "bicubic") else None
    return F.interpolate(pixels, size, mode=spec.resize, align_corners=align)


def super_resolve(
    model: DiffusionModel, positive: Conditioning, negative: Conditioning | None,
    image: torch.Tensor, noise: Noise, *, scale: float = 4.0, noise_level: int = 250,
    sampler: str = "ddpm", schedule: str = "normal", steps: int = 50, cfg: float = 4.0,
    device: str | torch.device = "cpu", callback: Any = None,
) -> Latent:
    """Upsample ``image`` by ``scale`` with a super-resolution stage.

    Args:
        model: A super-resolution model (its ``schedulers`` hold ``image_noising_scheduler``).
        positive, negative: Prompt conditioning (the same T5 states as the first stage's).
        image: IMAGE [B, H, W, 3] in 0..1 (e.g. stage I's output).
        noise: The seed: initial noise, then the augmentation noise, then per-step noise.
        scale: Output size / input size.
        noise_level: Augmentation timestep in [0, num_train_timesteps).
        sampler, schedule, steps, cfg, device, callback: As for ``denoise``.

    Returns:
        A pixel-space Latent [B, 3, H * scale, W * scale].

    Raises:
        ValueError: the model is not a super-resolution model, or a bad size or noise level.
    """
    from pipelines.sampling.denoise import denoise

    config = model.schedulers.get(NOISING_SCHEDULER)
    if config is None:
        raise ValueError("This model is not a super-resolution stage (it has no "
                         "image_noising_scheduler); load an IF stage II model")
    limit = int(config.get("num_train_timesteps", 1000))
    if not 0 <= noise_level < limit:
        raise ValueError(f"noise level must be between 0 and {limit - 1}, got {noise_level}")
    pixels = image_to_pixels(image)
    height, width = round(pixels.shape[2] * scale), round(pixels.shape[3] * scale)
    if height < 8 or width < 8:
        raise ValueError(f"the upscaled image would be {width}x{height} pixels; use a larger scale")
    spec = get_family(model.family).sr_condition or IF_SR_CONDITION
    upscaled = resize_for_stage(pixels, (height, width), spec)
    condition = ImageCondition(upscaled, noise_level, config,
                               residual_scale=spec.residual_scale)
    start = Latent(samples=torch.zeros(pixels.shape[0], model.latent_channels, height, width),
                   space=model.family)
    return denoise(model, positive, negative, start, noise, sampler=sampler, schedule=schedule,
                   steps=steps, cfg=cfg, device=device, callback=callback,
                   image_condition=condition)
