"""Learned upscaler nodes: load an ESRGAN-family model, upscale an image with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Int, Link, Output, String, node
from node_api.ports import IMAGE, UPSCALE_MODEL
from nodes._models import model_fingerprint, on_device, resolve_model

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.loading.upscalers import UpscaleModel


@node(
    "upscale.load_model",
    title="Upscale Model Loader",
    category="upscale",
    description="Load an ESRGAN / Real-ESRGAN (RRDBNet) or Real-ESRGAN compact upscaler "
    "(.safetensors, or .pth read as plain tensors only).",
    inputs=[String("model", "", kind="model:upscale_models",
                   description="File in the upscale_models folder, or a path.")],
    outputs=[Output("upscale_model", UPSCALE_MODEL)],
    fingerprint=model_fingerprint("model", "upscale_models"),
)
def load_upscale_model(ctx: NodeContext, model: str) -> UpscaleModel:
    from pipelines.loading.cached import load_upscaler_cached

    return load_upscaler_cached(resolve_model(model, "upscale_models"), device=ctx.device,
                                vram_mode=ctx.options.vram_mode)


@node(
    "upscale.with_model",
    title="Upscale Image With Model",
    category="upscale",
    description="Upscale an image with a learned upscaler, tile by tile so large images fit.",
    inputs=[
        Link("upscale_model", UPSCALE_MODEL),
        Link("image", IMAGE),
        Int("tile", 512, min=0, max=4096, step=32,
            description="Tile size in pixels (0: whole image at once)."),
        Int("overlap", 32, min=0, max=256, step=8, description="Context around each tile."),
    ],
    outputs=[Output("image", IMAGE)],
)
def upscale_with_model(
    ctx: NodeContext, upscale_model: UpscaleModel, image: Tensor, tile: int, overlap: int
) -> Tensor:
    from pipelines.loading.upscalers import upscale_with_model as run

    with on_device(ctx, upscale_model):
        return run(upscale_model, image, tile=tile, overlap=overlap,
                   on_tile=lambda done, total: ctx.progress(done, total))
