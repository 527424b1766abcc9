"""ComfyUI's core batch, transform and blank-image operations, computed as its nodes.py does:
LatentFromBatch, RepeatLatentBatch, LatentRotate, LatentFlip, LatentCrop, LatentBlend,
ImageBatch, EmptyImage and LoadImageMask's channel pick.

Latents keep their other fields as ComfyUI's copies do; the masked-image latents of
inpainting models (which ComfyUI keeps in the conditioning) follow the samples' batch and
geometry so the inpainting model still receives matching extra channels."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from pipelines.catalog import LATENT_FLIPS as FLIPS
from pipelines.catalog import LATENT_ROTATIONS as ROTATIONS
from pipelines.catalog import MASK_CHANNELS
from pipelines.image_ops import LATENT_CELL, resize

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL.Image import Image

    from pipelines.values import Latent


def _map(latent: Latent, change: Callable[[torch.Tensor], torch.Tensor]) -> Latent:
    """``latent`` with ``change`` applied to its samples and masked-image latents."""
    extra = latent.masked_image_latents
    return replace(latent, samples=change(latent.samples),
                   masked_image_latents=None if extra is None else change(extra))


def _batch_masks(masks: torch.Tensor, batch: int) -> torch.Tensor:
    """A per-image mask batch repeated up to ``batch`` (ComfyUI's repeat before slicing)."""
    if masks.shape[0] < batch:
        times = math.ceil(batch / masks.shape[0])
        masks = masks.repeat(times, *([1] * (masks.dim() - 1)))[:batch]
    return masks


def _per_image(mask: torch.Tensor | None) -> bool:
    """Whether ``mask`` has a batch axis of more than one image ([B, h, w] or [B, 1, h, w])."""
    return mask is not None and mask.dim() >= 3 and mask.shape[0] > 1


def from_batch(latent: Latent, batch_index: int, length: int) -> Latent:
    """LatentFromBatch: ``length`` images from ``batch_index`` (both clamped to the batch);
    a per-image noise mask is cut the same way (repeated to the batch first), and the images
    remember their places so the sampler gives them the noise they had in the whole batch."""
    size = latent.samples.shape[0]
    start = min(size - 1, batch_index)
    count = min(size - start, length)

    def cut(tensor: torch.Tensor) -> torch.Tensor:
        return tensor[start:start + count].clone()

    masks = {}
    for name in ("noise_mask", "inpaint_mask"):
        mask = getattr(latent, name)
        if _per_image(mask):
            masks[name] = cut(_batch_masks(mask, size))
    places = latent.batch_index or tuple(range(size))
    return replace(_map(latent, cut), batch_index=places[start:start + count], **masks)


def repeat_batch(latent: Latent, amount: int) -> Latent:
    """RepeatLatentBatch: the batch repeated ``amount`` times (a per-image mask too)."""

    def repeat(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.repeat(amount, *([1] * (tensor.dim() - 1)))

    masks = {name: repeat(getattr(latent, name)) for name in ("noise_mask", "inpaint_mask")
             if _per_image(getattr(latent, name))}
    places = latent.batch_index
    if places is not None:  # later copies drawn after the batch's noise, as ComfyUI does
        offset = max(places) - min(places) + 1
        places = places + tuple(x + i * offset for i in range(1, amount) for x in places)
    return replace(_map(latent, repeat), batch_index=places, **masks)


def rotate(latent: Latent, rotation: str) -> Latent:
    """LatentRotate: clockwise by 90, 180 or 270 degrees (``torch.rot90`` over dims 3, 2).

    Raises:
        ValueError: an unknown rotation.
    """
    if rotation not in ROTATIONS:
        raise ValueError(f"unknown rotation {rotation!r}; valid: {', '.join(ROTATIONS)}")
    turns = ROTATIONS.index(rotation)
    return _map(latent, lambda t: torch.rot90(t, k=turns, dims=[3, 2]))


def flip(latent: Latent, method: str) -> Latent:
    """LatentFlip: "x-axis: vertically" flips the rows, "y-axis: horizontally" the columns.

    Raises:
        ValueError: an unknown method.
    """
    if method not in FLIPS:
        raise ValueError(f"unknown flip {method!r}; valid: {', '.join(FLIPS)}")
    axis = 2 if method.startswith("x") else 3
    return _map(latent, lambda t: torch.flip(t, dims=[axis]))


def crop(latent: Latent, width: int, height: int, x: int, y: int) -> Latent:
    """LatentCrop: ``width`` x ``height`` pixels from (x, y), in cells of 8; the corner is
    kept at least 8 cells (64 px) from the right and bottom edges (never below 0)."""
    rows, cols = latent.samples.shape[2], latent.samples.shape[3]
    left = max(0, min(x // LATENT_CELL, cols - 8))
    top = max(0, min(y // LATENT_CELL, rows - 8))
    right, bottom = left + width // LATENT_CELL, top + height // LATENT_CELL
    return _map(latent, lambda t: t[:, :, top:bottom, left:right])


def center_resize(samples: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    """ComfyUI's ``common_upscale(..., crop="center")``: cut the middle to the new aspect
    ratio, then resize [B, C, H, W]."""
    old_w, old_h = samples.shape[-1], samples.shape[-2]
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    middle = samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)
    return resize(middle, width, height, method)


def blend(first: Latent, second: Latent, factor: float) -> Latent:
    """LatentBlend: ``first * factor + second * (1 - factor)``; a second latent of another
    shape is resized bicubically (centre crop) to the first's size first."""
    one, two = first.samples, second.samples.to(first.samples.device)
    if one.shape != two.shape:
        two = center_resize(two, one.shape[3], one.shape[2], "bicubic")
    return replace(first, samples=one * factor + two * (1 - factor))


def image_batch(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """ImageBatch: both batches in one; a second image of another size is resized
    bilinearly (centre crop) to the first's size."""
    if image1.shape[1:] != image2.shape[1:]:
        moved = center_resize(image2.movedim(-1, 1), image1.shape[2], image1.shape[1],
                              "bilinear")
        image2 = moved.movedim(1, -1)
    return torch.cat((image1, image2.to(image1.device, image1.dtype)), dim=0)


def empty_image(width: int, height: int, batch_size: int, color: int) -> torch.Tensor:
    """EmptyImage: [B, H, W, 3] filled with the 0xRRGGBB ``color``."""
    channels = [torch.full([batch_size, height, width, 1], ((color >> shift) & 0xFF) / 0xFF)
                for shift in (16, 8, 0)]
    return torch.cat(channels, dim=-1)


def channel_mask(picture: Image, channel: str) -> torch.Tensor:
    """LoadImageMask: one channel of ``picture`` as a [1, H, W] mask; alpha is inverted
    (1 = transparent), a channel the picture lacks gives a 64 x 64 zero mask.

    Raises:
        ValueError: an unknown channel.
    """
    import numpy as np

    if channel not in MASK_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; valid: {', '.join(MASK_CHANNELS)}")
    if picture.mode == "I":
        picture = picture.point(lambda value: value * (1 / 255))
    if picture.getbands() != ("R", "G", "B", "A"):
        picture = picture.convert("RGBA")
    band = channel[0].upper()
    if band not in picture.getbands():
        return torch.zeros((1, 64, 64), dtype=torch.float32)
    mask = torch.from_numpy(np.array(picture.getchannel(band)).astype(np.float32) / 255.0)
    return (1.0 - mask if band == "A" else mask)[None]
