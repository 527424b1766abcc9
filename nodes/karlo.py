"""Karlo nodes (DALL-E 2's pixel cascade, diffusers ``UnCLIPPipeline``): load the cascade, then
decode an image embedding to a small image and super-resolve it. The prior is the unCLIP
Prior node; its embedding may be mixed with others first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, String, node
from node_api.ports import IMAGE, IMAGE_EMBEDDING, NOISE, PRIOR, UNCLIP_DECODER
from nodes._models import load_float32, model_fingerprint
from nodes._stages import run_stage

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import ImageEmbedding, Noise, Prior, UnclipDecoder


def _to_image(pixels: Tensor) -> Tensor:
    """[B, 3, H, W] in -1..1 -> the IMAGE port's [B, H, W, 3] in 0..1."""
    return (pixels * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).contiguous()


@node(
    "loaders.unclip",
    title="Load unCLIP",
    category="loaders",
    description="Load a Karlo (UnCLIPPipeline) folder: its prior and its decoder cascade.",
    inputs=[String("unclip", "", kind="model:checkpoints",
                   description="Karlo folder name in the model folders, or a path.")],
    outputs=[Output("prior", PRIOR), Output("decoder", UNCLIP_DECODER)],
    fingerprint=model_fingerprint("unclip", "checkpoints"),
)
def load_unclip(ctx: NodeContext, unclip: str) -> tuple[Prior, UnclipDecoder]:
    from pipelines.loading.cached import load_unclip_cached

    return load_float32(ctx, load_unclip_cached, unclip, "checkpoints")


@node(
    "unclip.decode",
    title="unCLIP Decoder",
    category="unclip",
    description="Sample a small image (64px) from a CLIP image embedding and its prompt, "
    "guided against the decoder's learned unconditional embedding.",
    inputs=[
        Link("decoder", UNCLIP_DECODER),
        Link("embedding", IMAGE_EMBEDDING),
        Link("noise", NOISE),
        String("text", "", multiline=True, description="The prompt the embedding came from."),
        Int("steps", 25, min=2, max=1000, description="Decoder denoising steps."),
        Float("cfg", 8.0, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 or less turns guidance off."),
    ],
    outputs=[Output("image", IMAGE)],
)
def unclip_decode(
    ctx: NodeContext, decoder: UnclipDecoder, embedding: ImageEmbedding, noise: Noise, text: str,
    steps: int, cfg: float
) -> Tensor:
    from pipelines.sampling.unclip import decode_embedding

    return _to_image(run_stage(ctx, decoder, decode_embedding, decoder, embedding, text, noise,
                               steps=steps, cfg=cfg))


@node(
    "unclip.super_resolution",
    title="unCLIP Super-Resolution",
    category="unclip",
    description="Upscale the decoder's image (64 -> 256px in Karlo) with the diffusion "
    "super-resolution UNets, conditioned on its bicubic upscale.",
    inputs=[
        Link("decoder", UNCLIP_DECODER),
        Link("image", IMAGE),
        Link("noise", NOISE),
        Int("steps", 7, min=2, max=1000, description="Super-resolution denoising steps."),
    ],
    outputs=[Output("image", IMAGE)],
)
def unclip_super_resolution(
    ctx: NodeContext, decoder: UnclipDecoder, image: Tensor, noise: Noise, steps: int
) -> Tensor:
    from pipelines.sampling.unclip import super_resolve

    small = image.permute(0, 3, 1, 2) * 2 - 1
    return _to_image(run_stage(ctx, decoder, super_resolve, decoder, small, noise, steps=steps))
