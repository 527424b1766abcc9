"""SD 2.1 unCLIP (Stable unCLIP, ComfyUI's unCLIP checkpoints): load the checkpoint with its
CLIP vision encoder, and add a CLIP image embedding to a text conditioning; the ordinary
Sampler then draws a variation of the image, steered by the prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CLIP, CLIP_VISION, CONDITIONING, IMAGE_EMBEDDING, MODEL, VAE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from pipelines.values import (
        ClipVision,
        Conditioning,
        DiffusionModel,
        ImageEmbedding,
        TextEncoder,
        Vae,
    )


@node(
    "loaders.unclip_checkpoint",
    title="Load unCLIP Checkpoint",
    category="loaders",
    description="Load an SD 2.1 unCLIP model, a folder (stable-diffusion-2-1-unclip) or a "
    "single file (sd21-unclip-h.safetensors / .ckpt): the model, its text encoder, its VAE "
    "and the CLIP vision encoder it was trained with.",
    inputs=[String("checkpoint", "", kind="model:checkpoints",
                   description="unCLIP folder or file name in the model folders, or a path.")],
    outputs=[
        Output("model", MODEL), Output("clip", CLIP), Output("vae", VAE),
        Output("clip_vision", CLIP_VISION, "Encodes the images for unCLIP Conditioning."),
    ],
    fingerprint=model_fingerprint("checkpoint", "checkpoints"),
)
def load_unclip_checkpoint(
    ctx: NodeContext, checkpoint: str
) -> tuple[DiffusionModel, TextEncoder, Vae, ClipVision]:
    from pipelines.loading.cached import load_checkpoint_cached, load_clip_vision_cached

    if not checkpoint:
        raise NodeInputError("checkpoint", "pick an SD 2.1 unCLIP folder or file")
    path = resolve_model(checkpoint, "checkpoints")
    model, clip, vae = load_checkpoint_cached(path, **load_settings(ctx))
    if "noising" not in model.extras:
        raise NodeInputError("checkpoint", f"{checkpoint} is not an unCLIP model "
                             f"({model.family}); load it with Load Checkpoint")
    vision = load_clip_vision_cached(path, device=ctx.device, vram_mode=ctx.options.vram_mode)
    return model, clip, vae, vision


@node(
    "conditioning.unclip",
    title="unCLIP Conditioning",
    category="conditioning",
    description="Add a CLIP image embedding to a conditioning for an SD 2.1 unCLIP model "
    "(ComfyUI's unCLIPConditioning). Several stack; a conditioning without one gives the "
    "model zeros.",
    inputs=[
        Link("conditioning", CONDITIONING),
        Link("embedding", IMAGE_EMBEDDING, "From CLIP Vision Encode (the model's CLIP vision)."),
        Float("strength", 1.0, min=-10.0, max=10.0, step=0.01,
              description="How strongly the image steers (0: the conditioning as it was)."),
        Float("noise_augmentation", 0.0, min=0.0, max=1.0, step=0.01,
              description="Noise added to the embedding: more strays further from the image."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def unclip_conditioning(
    ctx: NodeContext, conditioning: Conditioning, embedding: ImageEmbedding, strength: float,
    noise_augmentation: float,
) -> Conditioning:
    from pipelines.sampling.unclip_adm import add_unclip

    try:
        return add_unclip(conditioning, embedding, strength, noise_augmentation)
    except ValueError as exc:
        raise NodeInputError("embedding", str(exc)) from exc
