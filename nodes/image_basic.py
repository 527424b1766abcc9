"""Basic image nodes as ComfyUI's core defines them: batch two images, a blank image of
one colour, and one channel of an image file as a mask (pipelines.batch_ops computes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Int, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE, MASK
from nodes.image import _file_fingerprint
from pipelines.catalog import MASK_CHANNELS

if TYPE_CHECKING:
    from torch import Tensor

_SIZE = {"min": 1, "max": 16384, "step": 1}


@node(
    "image.batch",
    title="Batch Images",
    category="image",
    description="Both images in one batch; a second image of another size is resized "
    "(bilinear, centre crop) to the first's.",
    inputs=[Link("image1", IMAGE), Link("image2", IMAGE)],
    outputs=[Output("image", IMAGE)],
)
def batch_images(ctx: NodeContext, image1: Tensor, image2: Tensor) -> Tensor:
    from pipelines.batch_ops import image_batch

    return image_batch(image1, image2)


@node(
    "image.empty",
    title="Empty Image",
    category="image",
    description="A batch of images filled with one colour.",
    inputs=[
        Int("width", 512, description="Width in pixels.", **_SIZE),
        Int("height", 512, description="Height in pixels.", **_SIZE),
        Int("batch_size", 1, min=1, max=4096, description="Images in the batch."),
        Int("color", 0, min=0, max=0xFFFFFF,
            description="The colour as 0xRRGGBB (16777215 = white)."),
    ],
    outputs=[Output("image", IMAGE)],
)
def empty_image(ctx: NodeContext, width: int, height: int, batch_size: int, color: int
                ) -> Tensor:
    from pipelines.batch_ops import empty_image as empty

    return empty(width, height, batch_size, color)


@node(
    "image.load_mask",
    title="Load Image (as Mask)",
    category="image",
    description="One channel of an image file as a mask (alpha: 1 where transparent). Reads "
    "from the same folders as Load Image.",
    inputs=[
        String("path", "", kind="image", description="Image file; a relative name is looked "
               "up in the input folder."),
        Choice("channel", "alpha", choices=MASK_CHANNELS, description="The channel read."),
    ],
    outputs=[Output("mask", MASK)],
    fingerprint=_file_fingerprint,
)
def load_image_mask(ctx: NodeContext, path: str, channel: str) -> Tensor:
    from PIL import Image, ImageOps, UnidentifiedImageError

    from nodes._images import find_image
    from pipelines.batch_ops import channel_mask

    file = find_image(path, ctx.options.output_dir)
    try:
        with Image.open(file) as opened:
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise NodeInputError("path", f"{file} is not a readable image ({exc})") from None
    try:
        return channel_mask(picture, channel)
    except ValueError as exc:
        raise NodeInputError("channel", str(exc)) from None
