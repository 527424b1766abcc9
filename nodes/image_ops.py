"""Image and latent operations as ComfyUI computes them: scale to a pixel count, pad for
outpainting, and latent composites (pipelines.image_ops has the arithmetic)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Boolean, Choice, Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE, LATENT, MASK
from pipelines.catalog import COMFY_RESIZE_METHODS

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Latent

_PIXELS = {"min": 0, "max": 8192, "step": 8}


@node(
    "image.scale_to_total_pixels",
    title="Scale Image to Total Pixels",
    category="image",
    description="Resize an image, keeping its aspect ratio, to about this many megapixels "
    "(1 megapixel = 1024 x 1024 pixels), as ComfyUI's ImageScaleToTotalPixels.",
    inputs=[
        Link("image", IMAGE),
        Choice("method", "nearest-exact", choices=COMFY_RESIZE_METHODS,
               description="Resampling filter (ComfyUI's upscale methods)."),
        Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01,
              description="Target size in megapixels."),
        Int("resolution_steps", 1, min=1, max=256,
            description="Round width and height to a multiple of this (8: latent-friendly)."),
    ],
    outputs=[Output("image", IMAGE)],
)
def scale_to_total_pixels(
    ctx: NodeContext, image: Tensor, method: str, megapixels: float, resolution_steps: int
) -> Tensor:
    from pipelines.image_ops import scale_to_total_pixels as scale

    try:
        return scale(image, method, megapixels, resolution_steps)
    except ValueError as exc:
        raise NodeInputError("megapixels", str(exc)) from None


@node(
    "image.pad_for_outpaint",
    title="Pad Image for Outpainting",
    category="image",
    description="Grow the canvas by the margins (filled mid-grey) and give the mask of the new "
    "area for an inpainting pass, feathered into the picture along the padded edges.",
    inputs=[
        Link("image", IMAGE),
        Int("left", 0, description="Pixels added on the left.", **_PIXELS),
        Int("top", 0, description="Pixels added on the top.", **_PIXELS),
        Int("right", 0, description="Pixels added on the right.", **_PIXELS),
        Int("bottom", 0, description="Pixels added at the bottom.", **_PIXELS),
        Int("feathering", 40, min=0, max=8192,
            description="Pixels of the picture along padded edges that the mask fades into."),
    ],
    outputs=[Output("image", IMAGE), Output("mask", MASK, "1 = paint (the new margins).")],
)
def pad_for_outpaint(
    ctx: NodeContext, image: Tensor, left: int, top: int, right: int, bottom: int,
    feathering: int,
) -> tuple[Tensor, Tensor]:
    from pipelines.image_ops import pad_for_outpaint as pad

    return pad(image, left, top, right, bottom, feathering)


@node(
    "latent.composite",
    title="Latent Composite",
    category="latent",
    description="Paste the source latent into the destination at (x, y) pixels (in steps of "
    "8), optionally fading its edges into the destination.",
    inputs=[
        Link("destination", LATENT, "The latent pasted into (its noise mask is kept)."),
        Link("source", LATENT, "The latent pasted; cut where it leaves the destination."),
        Int("x", 0, description="Left edge in pixels.", **_PIXELS),
        Int("y", 0, description="Top edge in pixels.", **_PIXELS),
        Int("feather", 0, description="Pixels faded at each inner edge.", **_PIXELS),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_composite(
    ctx: NodeContext, destination: Latent, source: Latent, x: int, y: int, feather: int
) -> Latent:
    from pipelines.image_ops import composite

    try:
        samples = composite(destination.samples, source.samples, x, y, feather)
    except (ValueError, RuntimeError) as exc:
        raise NodeInputError("source", f"cannot paste it here: {exc}") from None
    return replace(destination, samples=samples)


@node(
    "latent.composite_masked",
    title="Latent Composite (Masked)",
    category="latent",
    description="Blend the source latent into the destination at (x, y) pixels through a mask "
    "(1 = source, 0 = destination; resized to the source), or paste it whole without one.",
    inputs=[
        Link("destination", LATENT, "The latent blended into (its noise mask is kept)."),
        Link("source", LATENT),
        Link("mask", MASK, "Optional: where the source shows (any size).", optional=True),
        Int("x", 0, description="Left edge in pixels.", **_PIXELS),
        Int("y", 0, description="Top edge in pixels.", **_PIXELS),
        Boolean("resize_source", False,
                description="Stretch the source to the destination's size first."),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_composite_masked(
    ctx: NodeContext, destination: Latent, source: Latent, mask: Tensor | None, x: int, y: int,
    resize_source: bool,
) -> Latent:
    from pipelines.image_ops import composite_masked

    try:
        samples = composite_masked(destination.samples, source.samples, x, y, mask,
                                   resize_source)
    except (ValueError, RuntimeError) as exc:
        raise NodeInputError("source", f"cannot blend it here: {exc}") from None
    return replace(destination, samples=samples)


@node(
    "image.composite_masked",
    title="Image Composite (Masked)",
    category="image",
    description="Blend the source image into the destination at (x, y) pixels through a mask "
    "(1 = source, 0 = destination; resized to the source), or paste it whole without one.",
    inputs=[
        Link("destination", IMAGE),
        Link("source", IMAGE),
        Link("mask", MASK, "Optional: where the source shows (any size).", optional=True),
        Int("x", 0, min=0, max=8192, description="Left edge in pixels."),
        Int("y", 0, min=0, max=8192, description="Top edge in pixels."),
        Boolean("resize_source", False,
                description="Stretch the source to the destination's size first."),
    ],
    outputs=[Output("image", IMAGE)],
)
def image_composite_masked(
    ctx: NodeContext, destination: Tensor, source: Tensor, mask: Tensor | None, x: int, y: int,
    resize_source: bool,
) -> Tensor:
    from pipelines.image_ops import composite_masked

    try:
        out = composite_masked(destination.movedim(-1, 1), source.movedim(-1, 1), x, y, mask,
                               resize_source, multiplier=1)
    except (ValueError, RuntimeError) as exc:
        raise NodeInputError("source", f"cannot blend it here: {exc}") from None
    return out.movedim(1, -1)
