"""Image and latent operations with ComfyUI's exact arithmetic: resizing to a pixel count
(ImageScaleToTotalPixels), padding for outpainting (ImagePadForOutpaint) and pasting one latent
into another (LatentComposite, LatentCompositeMasked).

Images are float32 [B, H, W, 3] in 0..1, masks [B, H, W], latent samples [B, C, h, w]. These
follow ComfyUI's nodes.py and comfy_extras/nodes_mask.py step by step (the same slices, the same
interpolation modes, the same order of operations), so a shared workflow gives the same tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipelines.catalog import COMFY_RESIZE_METHODS as RESIZE_METHODS

LATENT_CELL = 8  # ComfyUI's composite nodes count x/y in pixels of 8 per latent cell


def _lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's lanczos: through 8-bit PIL images (values truncated, not rounded)."""
    out = []
    for image in samples:
        array = np.clip(255.0 * image.movedim(0, -1).cpu().numpy(), 0, 255).astype(np.uint8)
        picture = Image.fromarray(array).resize((width, height), resample=Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.array(picture).astype(np.float32) / 255.0).movedim(-1, 0))
    return torch.stack(out).to(samples.dtype)


def resize(samples: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    """Resize [B, C, H, W] as ComfyUI's ``common_upscale(..., crop="disabled")``: torch's
    interpolation without antialiasing, or lanczos through PIL.

    Raises:
        ValueError: an unknown method.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"Unknown method {method!r}; valid: {', '.join(RESIZE_METHODS)}")
    if method == "lanczos":
        return _lanczos(samples, width, height)
    return F.interpolate(samples, size=(height, width), mode=method)


def total_pixels_size(width: int, height: int, megapixels: float, steps: int = 1
                      ) -> tuple[int, int]:
    """(width, height) keeping the aspect ratio with about ``megapixels`` * 1024 * 1024 pixels,
    each rounded to a multiple of ``steps`` (ComfyUI's ``resolution_steps``)."""
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    return (int(round(width * scale / steps) * steps), int(round(height * scale / steps) * steps))


def scale_to_total_pixels(image: torch.Tensor, method: str, megapixels: float,
                          steps: int = 1) -> torch.Tensor:
    """ImageScaleToTotalPixels: the image resized to about ``megapixels`` million pixels.

    Raises:
        ValueError: an unknown method, or a target size of 0 pixels.
    """
    width, height = total_pixels_size(image.shape[2], image.shape[1], megapixels, steps)
    if width < 1 or height < 1:
        raise ValueError(f"{megapixels} megapixels gives a {width}x{height} image")
    samples = image.movedim(-1, 1)
    return resize(samples, width, height, method).movedim(1, -1)


def pad_for_outpaint(image: torch.Tensor, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ImagePadForOutpaint: the image on a mid-grey canvas grown by the margins, and the mask
    of what to paint: 1 on the new margins, 0 on the picture, rising as the square of the
    distance to a padded edge within ``feathering`` pixels (when the feather fits twice).

    Returns:
        (image [B, H', W', C], mask [1, H', W']).
    """
    batch, height, width, channels = image.shape
    canvas = torch.ones((batch, height + top + bottom, width + left + right, channels),
                        dtype=torch.float32) * 0.5
    canvas[:, top:top + height, left:left + width, :] = image
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    inner = torch.zeros((height, width), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        rows = torch.arange(height).unsqueeze(1)
        cols = torch.arange(width).unsqueeze(0)
        far_h, far_w = torch.full_like(rows, height), torch.full_like(cols, width)
        distance = torch.minimum(
            torch.minimum(rows if top else far_h, (height - rows) if bottom else far_h),
            torch.minimum(cols if left else far_w, (width - cols) if right else far_w))
        # the same Python-float arithmetic as ComfyUI's loop: v = (f - d) / f; v * v
        rises = [(feathering - d) / feathering for d in range(feathering)]
        values = torch.tensor([v * v for v in rises] + [0.0], dtype=torch.float32)
        inner = values[distance.clamp(max=feathering)]
    mask[top:top + height, left:left + width] = inner
    return canvas, mask.unsqueeze(0)


def _to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """ComfyUI's ``repeat_to_batch_size``: cut or repeat along the batch."""
    if tensor.shape[0] > batch:
        return tensor.narrow(0, 0, batch)
    if tensor.shape[0] < batch:
        times = math.ceil(batch / tensor.shape[0])
        return tensor.repeat(times, *([1] * (tensor.dim() - 1))).narrow(0, 0, batch)
    return tensor


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, feather: int
              ) -> torch.Tensor:
    """LatentComposite: ``source`` pasted into ``destination`` at pixel (x, y) (cells of 8),
    cut at the destination's edge; ``feather`` pixels (in cells of 8) fade linearly into the
    destination along each side that does not touch the destination's border.

    Raises:
        ValueError: a source batch that cannot go into the destination's.
    """
    x, y, feather = x // LATENT_CELL, y // LATENT_CELL, feather // LATENT_CELL
    out = destination.clone()
    source = source[:, :, :destination.shape[2] - y, :destination.shape[3] - x]
    region = (slice(None), slice(None), slice(y, y + source.shape[2]),
              slice(x, x + source.shape[3]))
    if source.shape[0] not in (1, out.shape[0]):
        raise ValueError(f"the source latent has batch {source.shape[0]} but the destination "
                         f"has batch {out.shape[0]}")
    if feather == 0:
        out[region] = source
        return out
    mask = torch.ones_like(source)
    for t in range(feather):
        weight = (1.0 / feather) * (t + 1)
        if y != 0:
            mask[:, :, t:1 + t, :] *= weight
        if y + source.shape[2] < destination.shape[2]:
            mask[:, :, mask.shape[2] - 1 - t:mask.shape[2] - t, :] *= weight
        if x != 0:
            mask[:, :, :, t:1 + t] *= weight
        if x + source.shape[3] < destination.shape[3]:
            mask[:, :, :, mask.shape[3] - 1 - t:mask.shape[3] - t] *= weight
    reverse = torch.ones_like(mask) - mask
    out[region] = source * mask + out[region] * reverse
    return out


def composite_masked(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
                     mask: torch.Tensor | None = None, resize_source: bool = False,
                     multiplier: int = LATENT_CELL) -> torch.Tensor:
    """LatentCompositeMasked (``multiplier`` 8) / ImageCompositeMasked (1, channels first):
    ``source`` (optionally stretched to the destination first) blended into a copy of
    ``destination`` at (x, y) through ``mask`` (resized bilinearly to the source; none = 1)."""
    out = destination.clone()
    source = source.to(out.device)
    if resize_source:
        source = F.interpolate(source, size=(out.shape[-2], out.shape[-1]), mode="bilinear")
    source = _to_batch(source, out.shape[0])
    x = max(-source.shape[-1] * multiplier, min(x, out.shape[-1] * multiplier))
    y = max(-source.shape[-2] * multiplier, min(y, out.shape[-2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[-1], top + source.shape[-2]
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = mask.to(out.device, copy=True).float()
        mask = F.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])),
                             size=(source.shape[-2], source.shape[-1]), mode="bilinear")
        mask = _to_batch(mask, source.shape[0])
    visible_w = out.shape[-1] - left + min(0, x)
    visible_h = out.shape[-2] - top + min(0, y)
    mask = mask[:, :, :visible_h, :visible_w]
    inverse = torch.ones_like(mask) - mask
    source_part = mask * source[..., :visible_h, :visible_w]
    destination_part = inverse * out[..., top:bottom, left:right]
    out[..., top:bottom, left:right] = source_part + destination_part
    return out
