"""VAE nodes: latents to pixels and back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import IMAGE, LATENT, MASK, VAE
from pipelines.catalog import VAE_TILING

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Latent, Vae


def _tiling_inputs() -> list:
    return [
        Choice("tiling", "auto", choices=VAE_TILING,
               description="auto: the whole image at once, and in tiles if the GPU runs out "
               "of memory; always: in tiles (large images on small GPUs); never: never tile."),
        Int("tile_size", 0, min=0, max=4096, step=64,
            description="Tile size in pixels; 0 uses the VAE's own (512 SD, 1024 SDXL)."),
        Int("overlap", 0, min=0, max=4096, step=32,
            description="Pixels neighbouring tiles share (at most a quarter of the tile); 0 "
            "uses a quarter of the tile."),
    ]


@node(
    "vae.decode",
    title="VAE Decode",
    category="vae",
    description="Decode a latent into an image with the autoencoder.",
    inputs=[Link("latent", LATENT), Link("vae", VAE), *_tiling_inputs()],
    outputs=[Output("image", IMAGE)],
)
def vae_decode(
    ctx: NodeContext, latent: Latent, vae: Vae, tiling: str, tile_size: int, overlap: int
) -> Tensor:
    from nodes._models import on_device
    from pipelines.families import get_family

    if latent.space is not None and get_family(latent.space).latent.pixels:
        raise NodeInputError("latent", "this latent is already pixels (a pixel-space model "
                             "such as DeepFloyd IF drew it); use Pixels to Image instead")
    from pipelines.sampling.vae import decode

    with on_device(ctx, vae):  # low-VRAM mode: the VAE visits the GPU only now
        return decode(vae, latent, tiling=tiling, tile=tile_size or None, overlap=overlap or None)


@node(
    "vae.encode",
    title="VAE Encode",
    category="vae",
    description="Encode an image into the latent space (for img2img).",
    inputs=[Link("image", IMAGE), Link("vae", VAE), *_tiling_inputs()],
    outputs=[Output("latent", LATENT)],
)
def vae_encode(
    ctx: NodeContext, image: Tensor, vae: Vae, tiling: str, tile_size: int, overlap: int
) -> Latent:
    from nodes._models import on_device
    from pipelines.sampling.vae import encode

    with on_device(ctx, vae):
        return encode(vae, image, tiling=tiling, tile=tile_size or None, overlap=overlap or None)


@node(
    "vae.encode_inpaint",
    title="VAE Encode (for Inpainting)",
    category="vae",
    description="Encode an image and a mask for inpainting. Inpainting models get the masked "
    "image and the mask every step; other models repaint the masked area and keep the rest.",
    inputs=[
        Link("image", IMAGE),
        Link("vae", VAE),
        Link("mask", MASK, "1 = repaint, 0 = keep; any size (resized to the image)."),
        Int("grow_mask_by", 6, min=0, max=64,
            description="Grow the repainted area by this many pixels so seams blend."),
    ],
    outputs=[Output("latent", LATENT)],
)
def vae_encode_inpaint(
    ctx: NodeContext, image: Tensor, vae: Vae, mask: Tensor, grow_mask_by: int
) -> Latent:
    from nodes._models import on_device
    from pipelines.sampling.inpaint import encode_for_inpainting

    with on_device(ctx, vae):
        return encode_for_inpainting(vae, image, mask, grow_mask_by)
