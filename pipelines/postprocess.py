"""Image post-processing with ComfyUI's arithmetic (``comfy_extras/nodes_post_processing.py``):
blend, Gaussian blur, sharpen and palette quantization of [B, H, W, 3] images in 0..1."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.catalog import BLEND_MODES, QUANTIZE_DITHERS


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """ComfyUI's kernel: a Gaussian over [-1, 1] x [-1, 1] sampled ``size`` times, summing
    to 1 (sigma is in those units, not pixels)."""
    x, y = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size),
                          indexing="ij")
    g = torch.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter(image: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """``kernel`` over every channel, the border reflected."""
    channels = image.shape[-1]
    weights = kernel.to(image.dtype).repeat(channels, 1, 1).unsqueeze(1)
    padded = F.pad(image.permute(0, 3, 1, 2), (radius,) * 4, "reflect")
    return F.conv2d(padded, weights, groups=channels).permute(0, 2, 3, 1)


def blur(image: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """ImageBlur."""
    if radius == 0:
        return image.clone()
    return _filter(image, gaussian_kernel(2 * radius + 1, sigma), radius)


def sharpen(image: torch.Tensor, radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """ImageSharpen: the image minus ``10 * alpha`` times its blur, renormalised; clamped."""
    if radius == 0:
        return image.clone()
    kernel = gaussian_kernel(2 * radius + 1, sigma) * -(alpha * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    return _filter(image, kernel, radius).clamp(0, 1)


def _center_crop_resize(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's common_upscale(bicubic, crop="center") on [B, H, W, C]."""
    samples = image.permute(0, 3, 1, 2)
    old_w, old_h = samples.shape[-1], samples.shape[-2]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    samples = samples.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)
    return F.interpolate(samples, size=(height, width), mode="bicubic").permute(0, 2, 3, 1)


def blend(first: torch.Tensor, second: torch.Tensor, factor: float, mode: str
          ) -> torch.Tensor:
    """ImageBlend: ``first * (1 - factor) + mode(first, second) * factor``, clamped; a second
    image of another size is fitted to the first (center crop, bicubic) as ComfyUI does.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in BLEND_MODES:
        raise ValueError(f"unknown blend mode {mode!r}; valid: {', '.join(BLEND_MODES)}")
    if first.shape != second.shape:
        second = _center_crop_resize(second, first.shape[2], first.shape[1])
    if mode == "normal":
        mixed = second
    elif mode == "multiply":
        mixed = first * second
    elif mode == "screen":
        mixed = 1 - (1 - first) * (1 - second)
    elif mode == "overlay":
        mixed = torch.where(first <= 0.5, 2 * first * second, 1 - 2 * (1 - first) * (1 - second))
    elif mode == "soft_light":
        g = torch.where(first <= 0.25, ((16 * first - 12) * first + 4) * first, torch.sqrt(first))
        mixed = torch.where(second <= 0.5, first - (1 - 2 * second) * first * (1 - first),
                            first + (2 * second - 1) * (g - first))
    else:
        mixed = first - second
    return (first * (1 - factor) + mixed * factor).clamp(0, 1)


def quantize(image: torch.Tensor, colors: int, dither: str) -> torch.Tensor:
    """ImageQuantize: each image reduced to a ``colors``-entry palette of its own (PIL's
    median cut), optionally Floyd-Steinberg dithered.

    Raises:
        ValueError: an unknown dither.
    """
    from PIL import Image

    if dither not in QUANTIZE_DITHERS:
        raise ValueError(f"unknown dither {dither!r}; valid: {', '.join(QUANTIZE_DITHERS)}")
    method = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
    out = torch.zeros_like(image)
    for index, picture in enumerate(image):
        pil = Image.fromarray((picture * 255).to(torch.uint8).numpy(), mode="RGB")
        palette = pil.quantize(colors=colors)  # as ComfyUI: the palette from a first pass
        reduced = pil.quantize(colors=colors, palette=palette, dither=method)
        out[index] = torch.from_numpy(np.array(reduced.convert("RGB"))).float() / 255
    return out
