"""Mask operations with ComfyUI's arithmetic (``comfy_extras/nodes_mask.py``): masks are float
tensors [B, H, W] (or [H, W]) in 0..1, images [B, H, W, 3], as everywhere in the studio.
Every function returns a new tensor; its inputs are not changed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipelines.catalog import IMAGE_MASK_CHANNELS as IMAGE_CHANNELS
from pipelines.catalog import MASK_COMPOSITE_OPERATIONS as COMPOSITE_OPERATIONS


def batched(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` as [B, H, W]."""
    return mask.reshape((-1, mask.shape[-2], mask.shape[-1]))


def to_image(mask: torch.Tensor) -> torch.Tensor:
    """MaskToImage: a gray [B, H, W, 3] image of the mask."""
    return batched(mask).unsqueeze(-1).expand(-1, -1, -1, 3).clone()


def from_image(image: torch.Tensor, channel: str) -> torch.Tensor:
    """ImageToMask: one channel of every image in the batch; an image without alpha gives
    ones for "alpha" (opaque) as ComfyUI's own alpha channel would read.

    Raises:
        ValueError: an unknown channel.
    """
    if channel not in IMAGE_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; valid: {', '.join(IMAGE_CHANNELS)}")
    index = IMAGE_CHANNELS.index(channel)
    if index >= image.shape[-1]:
        return torch.ones(image.shape[:-1], dtype=torch.float32)
    return image[..., index].clone()


def solid(value: float, width: int, height: int) -> torch.Tensor:
    """SolidMask: a [1, H, W] mask of one value."""
    return torch.full((1, height, width), float(value), dtype=torch.float32)


def invert(mask: torch.Tensor) -> torch.Tensor:
    """InvertMask."""
    return 1.0 - mask


def threshold(mask: torch.Tensor, value: float) -> torch.Tensor:
    """ThresholdMask: 1 where the mask is above ``value``, else 0."""
    return (mask > value).float()


def crop(mask: torch.Tensor, x: int, y: int, width: int, height: int) -> torch.Tensor:
    """CropMask (a window past the edge gives what is inside)."""
    return batched(mask)[:, y:y + height, x:x + width].clone()


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int,
              operation: str) -> torch.Tensor:
    """MaskComposite: ``source`` combined into ``destination`` at (x, y), clamped to 0..1.

    Raises:
        ValueError: an unknown operation.
    """
    if operation not in COMPOSITE_OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; valid: "
                         f"{', '.join(COMPOSITE_OPERATIONS)}")
    output = batched(destination).clone()
    source = batched(source)
    right = min(x + source.shape[-1], output.shape[-1])
    bottom = min(y + source.shape[-2], output.shape[-2])
    if right <= x or bottom <= y:
        return output.clamp(0.0, 1.0)
    part = source[:, :bottom - y, :right - x]
    here = output[:, y:bottom, x:right]
    if operation == "multiply":
        result = here * part
    elif operation == "add":
        result = here + part
    elif operation == "subtract":
        result = here - part
    else:
        logic = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}
        result = logic[operation](here.bool(), part.bool()).float()
    output[:, y:bottom, x:right] = result
    return output.clamp(0.0, 1.0)


def feather(mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> torch.Tensor:
    """FeatherMask: edges faded linearly over the given widths. As in ComfyUI, the right and
    bottom fades index ``-x`` from x = 0, so their first factor lands on the first column /
    row (kept for identical results)."""
    output = batched(mask).clone()
    height, width = output.shape[-2:]
    left, right = min(left, width), min(right, width)
    top, bottom = min(top, height), min(bottom, height)
    for x in range(left):
        output[:, :, x] *= (x + 1.0) / left
    for x in range(right):
        output[:, :, -x] *= (x + 1.0) / right
    for y in range(top):
        output[:, y, :] *= (y + 1.0) / top
    for y in range(bottom):
        output[:, -y, :] *= (y + 1.0) / bottom
    return output


def grow(mask: torch.Tensor, expand: int, tapered_corners: bool) -> torch.Tensor:
    """GrowMask: ``expand`` rounds of grey dilation (or erosion when negative) over a 3x3
    footprint, a cross with ``tapered_corners``, as scipy.ndimage does in ComfyUI (its
    reflected border never adds a value the neighbourhood lacks)."""
    output = batched(mask).float().unsqueeze(1)
    steps = abs(int(expand))
    if steps == 0:
        return output.squeeze(1).clone()
    sign = 1.0 if expand > 0 else -1.0
    output = output * sign  # erosion is a dilation of the negated mask
    for _ in range(steps):
        padded = F.pad(output, (1, 1, 1, 1), mode="replicate")
        if tapered_corners:
            center = padded[..., 1:-1, 1:-1]
            output = torch.stack([center, padded[..., :-2, 1:-1], padded[..., 2:, 1:-1],
                                  padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]]).amax(0)
        else:
            output = F.max_pool2d(padded, 3, stride=1)
    return (output * sign).squeeze(1)
