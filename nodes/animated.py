"""Save Animated: a batch of images as one animated WebP, PNG or GIF (ComfyUI's
SaveAnimatedWEBP / SaveAnimatedPNG)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Boolean, Choice, Float, Int, Link, String, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE

if TYPE_CHECKING:
    from torch import Tensor

_FORMATS = ("webp", "png", "gif")  # nodes._animated.FORMATS (kept free of imports here)


@node(
    "image.save_animated",
    title="Save Animated",
    category="image",
    is_output=True,
    description="Save the images of a batch as the frames of one animated file in the output "
    "folder (WebP and PNG carry the workflow, as Save Image's PNGs do; GIF does not).",
    inputs=[
        Link("image", IMAGE, "The frames, in batch order."),
        String("filename_prefix", "studio", description="Start of the file name."),
        Choice("format", "webp", choices=_FORMATS, description="File format."),
        Float("fps", 6.0, min=0.01, max=1000.0, step=0.01, description="Frames per second."),
        Boolean("lossless", True, description="WebP: lossless compression."),
        Int("quality", 80, min=0, max=100,
            description="WebP: quality (lossy), or effort (lossless)."),
        Int("method", 4, min=0, max=6,
            description="WebP: encoder effort, 0 fastest to 6 slowest (smallest)."),
        Int("compress_level", 4, min=0, max=9, description="PNG: zlib compression level."),
    ],
)
def save_animated(
    ctx: NodeContext, image: Tensor, filename_prefix: str, format: str, fps: float,
    lossless: bool, quality: int, method: int, compress_level: int,
) -> None:
    from nodes._animated import save_animated as save

    try:
        path = save(image, ctx.options.output_dir, filename_prefix, ctx.options.workflow,
                    format, fps, lossless=lossless, quality=quality, method=method,
                    compress_level=compress_level)
    except ValueError as exc:
        raise NodeInputError("fps" if "frame rate" in str(exc) else "format", str(exc)) from None
    ctx.wrote_file(path)
