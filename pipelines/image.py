"""Image and latent tensor helpers: PIL conversion and resizing.

Images are float32 CPU tensors [B, H, W, 3] in 0..1; latents are ``Latent`` values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipelines.values import Latent

IMAGE_UPSCALE_METHODS: tuple[str, ...] = ("lanczos", "bicubic", "bilinear", "nearest")
LATENT_UPSCALE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "bicubic")


def to_pil(image: torch.Tensor) -> list[Image.Image]:
    """Convert an image batch to 8-bit RGB PIL images.

    Args:
        image: [B, H, W, 3] (or [H, W, 3]) floats in 0..1.

    Returns:
        One ``PIL.Image`` per batch item.
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    array = (image.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return [Image.fromarray(item, mode="RGB") for item in array]


def from_pil(images: Image.Image | Sequence[Image.Image]) -> torch.Tensor:
    """Convert PIL images (converted to RGB; all the same size) to a batch tensor.

    Args:
        images: One image or a sequence of images.

    Returns:
        float32 [B, H, W, 3] in 0..1.

    Raises:
        ValueError: No images, or images of different sizes.
    """
    if isinstance(images, Image.Image):
        images = [images]
    if not images:
        raise ValueError("from_pil needs at least one image")
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise ValueError(f"All images in a batch must have the same size, got {sorted(sizes)}")
    arrays = [np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images]
    return torch.from_numpy(np.stack(arrays)).float() / 255.0


def _target_size(
    height: int, width: int, factor: float | None, new_width: int | None, new_height: int | None
) -> tuple[int, int]:
    """(height, width) from a factor, or from width/height (one alone keeps the aspect ratio)."""
    if factor is not None:
        if factor <= 0:
            raise ValueError(f"Upscale factor must be positive, got {factor}")
        return max(1, round(height * factor)), max(1, round(width * factor))
    if new_width is None and new_height is None:
        raise ValueError("Give a factor, or a width and/or a height")
    if new_width is None:
        new_width = round(width * new_height / height)
    if new_height is None:
        new_height = round(height * new_width / width)
    if new_width < 1 or new_height < 1:
        raise ValueError(f"Target size must be positive, got {new_width} x {new_height}")
    return int(new_height), int(new_width)


def upscale_image(
    image: torch.Tensor,
    method: str = "lanczos",
    factor: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> torch.Tensor:
    """Resize an image batch (lanczos through PIL per image, the others through torch).

    Args:
        image: [B, H, W, 3] in 0..1.
        method: One of ``IMAGE_UPSCALE_METHODS``.
        factor: Scale factor; wins over width/height.
        width: Target width in pixels (height follows the aspect ratio if not given).
        height: Target height in pixels.

    Returns:
        float32 [B, H', W', 3] in 0..1.

    Raises:
        ValueError: Unknown method or no/invalid target size.
    """
    if method not in IMAGE_UPSCALE_METHODS:
        raise ValueError(f"Unknown method {method!r}; valid: {', '.join(IMAGE_UPSCALE_METHODS)}")
    new_h, new_w = _target_size(image.shape[1], image.shape[2], factor, width, height)
    if method == "lanczos":
        resized = [im.resize((new_w, new_h), Image.Resampling.LANCZOS) for im in to_pil(image)]
        return from_pil(resized)
    mode = "nearest-exact" if method == "nearest" else method
    pixels = image.detach().float().cpu().permute(0, 3, 1, 2)
    kwargs = {} if mode == "nearest-exact" else {"align_corners": False, "antialias": True}
    out = F.interpolate(pixels, size=(new_h, new_w), mode=mode, **kwargs)
    return out.clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def upscale_latent(
    latent: Latent,
    method: str = "nearest-exact",
    factor: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Latent:
    """Resize latents. ``width``/``height`` are in latent cells (pixels / VAE scale factor).

    The noise mask is kept as it is: ``denoise`` resizes masks to the latent on use.

    Args:
        latent: The latent.
        method: One of ``LATENT_UPSCALE_METHODS``.
        factor: Scale factor; wins over width/height.
        width: Target width in latent cells.
        height: Target height in latent cells.

    Returns:
        A new ``Latent``.

    Raises:
        ValueError: Unknown method or no/invalid target size.
    """
    if method not in LATENT_UPSCALE_METHODS:
        raise ValueError(f"Unknown method {method!r}; valid: {', '.join(LATENT_UPSCALE_METHODS)}")
    samples = latent.samples
    new_h, new_w = _target_size(samples.shape[2], samples.shape[3], factor, width, height)
    kwargs = {} if method == "nearest-exact" else {"align_corners": False}
    out = F.interpolate(samples.float(), size=(new_h, new_w), mode=method, **kwargs)
    return Latent(samples=out, noise_mask=latent.noise_mask)
