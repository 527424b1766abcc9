"""Latent nodes: empty latents, latent upscaling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.ports import LATENT, MASK
from pipelines.catalog import LATENT_UPSCALE_METHODS

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Latent

_SIZE = {"min": 8, "max": 8192, "step": 8}


@node(
    "latent.empty",
    title="Empty Latent",
    category="latent",
    description="A blank latent of the given image size; the sampler fills it from noise.",
    inputs=[
        Int("width", 512, description="Image width in pixels.", **_SIZE),
        Int("height", 512, description="Image height in pixels.", **_SIZE),
        Int("batch_size", 1, min=1, max=64, description="Images generated at once."),
    ],
    outputs=[Output("latent", LATENT)],
)
def empty_latent(ctx: NodeContext, width: int, height: int, batch_size: int) -> Latent:
    from nodes._latents import empty

    return empty(width, height, batch_size)


@node(
    "latent.upscale",
    title="Latent Upscale",
    category="latent",
    description="Resize a latent by a factor or to an image size (pixels).",
    inputs=[
        Link("latent", LATENT),
        Choice("method", "nearest-exact", choices=LATENT_UPSCALE_METHODS,
               description="Interpolation."),
        Float("factor", 1.5, min=0.0, max=8.0, step=0.05,
              description="Scale factor; 0 to use width and height instead."),
        Int("width", 0, min=0, max=8192, step=8, description="Target width in pixels (0: keep aspect)."),
        Int("height", 0, min=0, max=8192, step=8, description="Target height in pixels (0: keep aspect)."),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_upscale(
    ctx: NodeContext, latent: Latent, method: str, factor: float, width: int, height: int
) -> Latent:
    from nodes._latents import upscale

    return upscale(latent, method, factor, width, height)


@node(
    "latent.set_noise_mask",
    title="Set Latent Noise Mask",
    category="latent",
    description="Inpainting with any model: only where the mask is 1 gets repainted; the "
    "rest of the latent is kept (blended back after every step).",
    inputs=[
        Link("latent", LATENT, "The encoded image to repaint."),
        Link("mask", MASK, "1 = repaint, 0 = keep; any size (resized to the latent)."),
        Float("grow", 0.0, min=0.0, max=64.0, step=1.0,
              description="Grow the mask by this many pixels so edges blend."),
    ],
    outputs=[Output("latent", LATENT)],
)
def set_noise_mask(ctx: NodeContext, latent: Latent, mask: Tensor, grow: float) -> Latent:
    from nodes._latents import with_noise_mask

    return with_noise_mask(latent, mask, grow)
