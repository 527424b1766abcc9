"""Latent batch and transform nodes as ComfyUI's core defines them: pick from a batch,
repeat a batch, rotate, flip, crop and blend (pipelines.batch_ops has the arithmetic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import LATENT
from pipelines.catalog import LATENT_FLIPS, LATENT_ROTATIONS

if TYPE_CHECKING:
    from pipelines.values import Latent

_PIXELS = {"min": 0, "max": 8192, "step": 8}
OUT = Output("latent", LATENT)


def _resized(latent: Latent) -> Latent:
    """A blank latent's pixel size after its cells moved (8 pixels a cell, as it was made),
    so the sampler still gives it the model's geometry at the new size."""
    from dataclasses import replace

    from nodes._latents import EmptyLatent

    if not isinstance(latent, EmptyLatent):
        return latent
    rows, cols = latent.samples.shape[2], latent.samples.shape[3]
    return replace(latent, pixel_width=cols * 8, pixel_height=rows * 8)


@node(
    "latent.from_batch",
    title="Latent From Batch",
    category="latent",
    description="Some images of a latent batch: `length` of them from `batch_index` (both "
    "cut to the batch), with their per-image noise masks.",
    inputs=[
        Link("latent", LATENT),
        Int("batch_index", 0, min=0, max=63, description="The first image taken (0-based)."),
        Int("length", 1, min=1, max=64, description="How many images are taken."),
    ],
    outputs=[OUT],
)
def latent_from_batch(ctx: NodeContext, latent: Latent, batch_index: int, length: int
                      ) -> Latent:
    from pipelines.batch_ops import from_batch

    return from_batch(latent, batch_index, length)


@node(
    "latent.repeat_batch",
    title="Repeat Latent Batch",
    category="latent",
    description="The whole latent batch repeated `amount` times (e.g. several samples of "
    "one encoded image).",
    inputs=[Link("latent", LATENT),
            Int("amount", 1, min=1, max=64, description="Copies of the batch.")],
    outputs=[OUT],
)
def repeat_latent_batch(ctx: NodeContext, latent: Latent, amount: int) -> Latent:
    from pipelines.batch_ops import repeat_batch

    return repeat_batch(latent, amount)


@node(
    "latent.rotate",
    title="Rotate Latent",
    category="latent",
    description="Turn the latent clockwise (the decoded image turns with it).",
    inputs=[Link("latent", LATENT),
            Choice("rotation", "none", choices=LATENT_ROTATIONS, description="Clockwise.")],
    outputs=[OUT],
)
def rotate_latent(ctx: NodeContext, latent: Latent, rotation: str) -> Latent:
    from pipelines.batch_ops import rotate

    try:
        return _resized(rotate(latent, rotation))
    except ValueError as exc:
        raise NodeInputError("rotation", str(exc)) from None


@node(
    "latent.flip",
    title="Flip Latent",
    category="latent",
    description="Mirror the latent: top-bottom (x-axis) or left-right (y-axis).",
    inputs=[Link("latent", LATENT),
            Choice("flip_method", LATENT_FLIPS[0], choices=LATENT_FLIPS,
                   description="The mirror axis, as ComfyUI names it.")],
    outputs=[OUT],
)
def flip_latent(ctx: NodeContext, latent: Latent, flip_method: str) -> Latent:
    from pipelines.batch_ops import flip

    try:
        return flip(latent, flip_method)
    except ValueError as exc:
        raise NodeInputError("flip_method", str(exc)) from None


@node(
    "latent.crop",
    title="Crop Latent",
    category="latent",
    description="Cut a width x height pixel area from (x, y), in steps of 8; the corner stays "
    "at least 64 pixels from the right and bottom edges.",
    inputs=[
        Link("latent", LATENT),
        Int("width", 512, min=64, max=8192, step=8, description="Width in pixels."),
        Int("height", 512, min=64, max=8192, step=8, description="Height in pixels."),
        Int("x", 0, description="Left edge in pixels.", **_PIXELS),
        Int("y", 0, description="Top edge in pixels.", **_PIXELS),
    ],
    outputs=[OUT],
)
def crop_latent(ctx: NodeContext, latent: Latent, width: int, height: int, x: int, y: int
                ) -> Latent:
    from pipelines.batch_ops import crop

    return _resized(crop(latent, width, height, x, y))


@node(
    "latent.blend",
    title="Latent Blend",
    category="latent",
    description="first x blend_factor + second x (1 - blend_factor); a second latent of "
    "another size is resized (bicubic, centre crop) to the first's.",
    inputs=[
        Link("first", LATENT, "Kept fields (noise mask...) come from this one."),
        Link("second", LATENT),
        Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01,
              description="Weight of the first latent."),
    ],
    outputs=[OUT],
)
def blend_latents(ctx: NodeContext, first: Latent, second: Latent, blend_factor: float
                  ) -> Latent:
    from nodes._latents import EmptyLatent
    from pipelines.batch_ops import blend
    from pipelines.values import Latent

    if isinstance(first, EmptyLatent) and not isinstance(second, EmptyLatent):
        first = Latent(first.samples, first.noise_mask, first.masked_image_latents, first.space,
                       first.inpaint_mask)  # no longer blank: the sampler must keep it
    try:
        return blend(first, second, blend_factor)
    except (ValueError, RuntimeError) as exc:
        raise NodeInputError("second", f"cannot blend it: {exc}") from None
