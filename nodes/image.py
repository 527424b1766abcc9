"""Image nodes: load, save (with the workflow embedded), preview, resize."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE, MASK
from pipelines.catalog import UPSCALE_METHODS

if TYPE_CHECKING:
    from torch import Tensor


def _file_fingerprint(values: dict[str, Any]) -> Any:
    path = Path(values.get("path", "")).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return None
    return [str(path.resolve()), stat.st_mtime_ns, stat.st_size]


@node(
    "image.load",
    title="Load Image",
    category="image",
    description="Load an image file; its alpha channel (if any) becomes the mask. Reads from "
    "the input folder ($STUDIO_INPUT), the output folder, the model folders and "
    "$STUDIO_ALLOW_PATHS only.",
    inputs=[String("path", "", kind="image", description="Image file (PNG, JPEG, WebP...); a "
                   "relative name is looked up in the input folder.")],
    outputs=[Output("image", IMAGE), Output("mask", MASK, "1 where the image is transparent.")],
    fingerprint=_file_fingerprint,
)
def load_image(ctx: NodeContext, path: str) -> tuple[Tensor, Tensor]:
    from nodes._images import load

    return load(path, ctx.options.output_dir)


@node(
    "image.save",
    title="Save Image",
    category="image",
    is_output=True,
    description="Save PNGs into the output folder, with the workflow and the generation "
    "parameters embedded (open the PNG to get the graph back).",
    inputs=[
        Link("image", IMAGE),
        String("filename_prefix", "studio", description="Start of the file names."),
    ],
)
def save_image(ctx: NodeContext, image: Tensor, filename_prefix: str) -> None:
    from nodes._images import save

    for path in save(image, ctx.options.output_dir, filename_prefix, ctx.options.workflow):
        ctx.wrote_file(path)


@node(
    "image.preview",
    title="Preview Image",
    category="image",
    is_output=True,
    description="Show the image without saving it.",
    inputs=[Link("image", IMAGE)],
)
def preview_image(ctx: NodeContext, image: Tensor) -> None:
    from pipelines.image import to_pil

    for picture in to_pil(image):
        ctx.show_image(picture)


@node(
    "image.upscale",
    title="Upscale Image",
    category="image",
    description="Resize an image by a factor or to a size, with a classic filter.",
    inputs=[
        Link("image", IMAGE),
        Choice("method", "lanczos", choices=UPSCALE_METHODS, description="Resampling filter."),
        Float("factor", 2.0, min=0.0, max=16.0, step=0.25,
              description="Scale factor; 0 to use width and height instead."),
        Int("width", 0, min=0, max=16384, description="Target width (0: keep aspect)."),
        Int("height", 0, min=0, max=16384, description="Target height (0: keep aspect)."),
    ],
    outputs=[Output("image", IMAGE)],
)
def upscale_image(
    ctx: NodeContext, image: Tensor, method: str, factor: float, width: int, height: int
) -> Tensor:
    from pipelines.image import upscale_image as resize

    if factor > 0:
        return resize(image, method, factor=factor)
    if width == 0 and height == 0:
        raise NodeInputError("factor", "set a factor above 0, or a width and/or height")
    return resize(image, method, width=width or None, height=height or None)
