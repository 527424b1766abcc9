"""Mask nodes with ComfyUI's arithmetic (its nodes_mask.py: MaskToImage, ImageToMask,
SolidMask, InvertMask, ThresholdMask, CropMask, MaskComposite, FeatherMask, GrowMask)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Boolean, Choice, Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE, MASK
from pipelines.catalog import IMAGE_MASK_CHANNELS, MASK_COMPOSITE_OPERATIONS

if TYPE_CHECKING:
    from torch import Tensor

_MAX = 16384


def _pixels(name: str, default: int = 0, low: int = 0) -> Int:
    return Int(name, default, min=low, max=_MAX, description=f"{name} in pixels.")


@node("mask.to_image", title="Mask to Image", category="mask",
      description="A mask as a gray image (ComfyUI's MaskToImage).",
      inputs=[Link("mask", MASK)], outputs=[Output("image", IMAGE)])
def mask_to_image(ctx: NodeContext, mask: Tensor) -> Tensor:
    from pipelines.mask_ops import to_image

    return to_image(mask)


@node("mask.from_image", title="Image to Mask", category="mask",
      description="One channel of an image as a mask (ComfyUI's ImageToMask).",
      inputs=[Link("image", IMAGE),
              Choice("channel", "red", choices=IMAGE_MASK_CHANNELS,
                     description="The channel read; alpha of an opaque image is all ones.")],
      outputs=[Output("mask", MASK)])
def image_to_mask(ctx: NodeContext, image: Tensor, channel: str) -> Tensor:
    from pipelines.mask_ops import from_image

    return from_image(image, channel)


@node("mask.solid", title="Solid Mask", category="mask",
      description="A mask of one value (ComfyUI's SolidMask).",
      inputs=[Float("value", 1.0, min=0.0, max=1.0, step=0.01),
              _pixels("width", 512, 1), _pixels("height", 512, 1)],
      outputs=[Output("mask", MASK)])
def solid_mask(ctx: NodeContext, value: float, width: int, height: int) -> Tensor:
    from pipelines.mask_ops import solid

    return solid(value, width, height)


@node("mask.invert", title="Invert Mask", category="mask",
      description="1 - mask (ComfyUI's InvertMask).",
      inputs=[Link("mask", MASK)], outputs=[Output("mask", MASK)])
def invert_mask(ctx: NodeContext, mask: Tensor) -> Tensor:
    from pipelines.mask_ops import invert

    return invert(mask)


@node("mask.threshold", title="Threshold Mask", category="mask",
      description="1 where the mask is above the value, else 0 (ComfyUI's ThresholdMask).",
      inputs=[Link("mask", MASK), Float("value", 0.5, min=0.0, max=1.0, step=0.01)],
      outputs=[Output("mask", MASK)])
def threshold_mask(ctx: NodeContext, mask: Tensor, value: float) -> Tensor:
    from pipelines.mask_ops import threshold

    return threshold(mask, value)


@node("mask.crop", title="Crop Mask", category="mask",
      description="A window of the mask (ComfyUI's CropMask).",
      inputs=[Link("mask", MASK), _pixels("x"), _pixels("y"), _pixels("width", 512, 1),
              _pixels("height", 512, 1)],
      outputs=[Output("mask", MASK)])
def crop_mask(ctx: NodeContext, mask: Tensor, x: int, y: int, width: int, height: int
              ) -> Tensor:
    from pipelines.mask_ops import crop

    if x >= mask.shape[-1] or y >= mask.shape[-2]:
        raise NodeInputError("x" if x >= mask.shape[-1] else "y",
                             f"the window starts outside the {mask.shape[-1]} x "
                             f"{mask.shape[-2]} mask")
    return crop(mask, x, y, width, height)


@node("mask.composite", title="Mask Composite", category="mask",
      description="Combine a source mask into a destination at (x, y), clamped to 0..1 "
      "(ComfyUI's MaskComposite).",
      inputs=[Link("destination", MASK), Link("source", MASK), _pixels("x"), _pixels("y"),
              Choice("operation", "multiply", choices=MASK_COMPOSITE_OPERATIONS,
                     description="and / or / xor treat any value above 0 as on.")],
      outputs=[Output("mask", MASK)])
def mask_composite(ctx: NodeContext, destination: Tensor, source: Tensor, x: int, y: int,
                   operation: str) -> Tensor:
    from pipelines.mask_ops import composite

    return composite(destination, source, x, y, operation)


@node("mask.feather", title="Feather Mask", category="mask",
      description="Fade the mask's edges linearly over the given widths (ComfyUI's "
      "FeatherMask, with its arithmetic).",
      inputs=[Link("mask", MASK), _pixels("left"), _pixels("top"), _pixels("right"),
              _pixels("bottom")],
      outputs=[Output("mask", MASK)])
def feather_mask(ctx: NodeContext, mask: Tensor, left: int, top: int, right: int,
                 bottom: int) -> Tensor:
    from pipelines.mask_ops import feather

    return feather(mask, left, top, right, bottom)


@node("mask.grow", title="Grow Mask", category="mask",
      description="Grow (or, negative, shrink) the mask by whole pixels (ComfyUI's GrowMask).",
      inputs=[Link("mask", MASK),
              Int("expand", 0, min=-_MAX, max=_MAX, description="Pixels; negative shrinks."),
              Boolean("tapered_corners", True,
                      description="Grow along edges only (rounder corners).")],
      outputs=[Output("mask", MASK)])
def grow_mask(ctx: NodeContext, mask: Tensor, expand: int, tapered_corners: bool) -> Tensor:
    from pipelines.mask_ops import grow

    return grow(mask, expand, tapered_corners)
