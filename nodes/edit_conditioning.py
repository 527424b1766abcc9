"""Conditioning for image-editing models: Inpaint Model Conditioning (inpainting UNets) and
Instruct Pix2Pix Conditioning (InstructPix2Pix), ComfyUI's nodes of the same names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Boolean, Float, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import CONDITIONING, IMAGE, LATENT, MASK, VAE
from nodes._models import on_device

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, Latent, Vae

_OUTPUTS = [Output("positive", CONDITIONING), Output("negative", CONDITIONING),
            Output("latent", LATENT)]


@node(
    "conditioning.inpaint_model",
    title="Inpaint Model Conditioning",
    category="conditioning",
    description="Prepare an image and a mask for inpainting: inpainting models see the masked "
    "image and the mask every step; with the noise mask on, the unmasked area is kept (any "
    "model). The conditionings pass through unchanged (ComfyUI compatibility).",
    inputs=[
        Link("positive", CONDITIONING),
        Link("negative", CONDITIONING),
        Link("vae", VAE),
        Link("image", IMAGE),
        Link("mask", MASK, "1 = repaint, 0 = keep; any size (resized to the image)."),
        Boolean("noise_mask", True,
                description="Keep the unmasked area; off repaints the whole image (an "
                "inpainting model still sees the mask)."),
    ],
    outputs=_OUTPUTS,
)
def inpaint_model_conditioning(
    ctx: NodeContext, positive: Conditioning, negative: Conditioning, vae: Vae, image: Tensor,
    mask: Tensor, noise_mask: bool,
) -> tuple[Conditioning, Conditioning, Latent]:
    from pipelines.sampling.edit_conditioning import inpaint_model_conditioning as prepare

    try:
        with on_device(ctx, vae):
            latent = prepare(vae, image, mask, noise_mask)
    except ValueError as exc:
        raise NodeInputError("mask" if "mask" in str(exc) else "image", str(exc)) from None
    return positive, negative, latent


@node(
    "conditioning.instruct_pix2pix",
    title="Instruct Pix2Pix Conditioning",
    category="conditioning",
    description="Give an InstructPix2Pix model the image to edit: its latent goes with both "
    "conditionings, and the latent to sample starts empty. The prompt says what to change.",
    inputs=[
        Link("positive", CONDITIONING, "The instruction, e.g. \"make it snow\"."),
        Link("negative", CONDITIONING),
        Link("vae", VAE),
        Link("image", IMAGE, "The image to edit."),
        Float("image_cfg", 1.0, min=0.0, max=10.0, step=0.05,
              description="How closely the result keeps to the image (diffusers' "
              "image_guidance_scale); 1 is plain CFG, as ComfyUI; other values cost a third "
              "model pass per step."),
    ],
    outputs=_OUTPUTS,
)
def instruct_pix2pix_conditioning(
    ctx: NodeContext, positive: Conditioning, negative: Conditioning, vae: Vae, image: Tensor,
    image_cfg: float,
) -> tuple[Conditioning, Conditioning, Latent]:
    from pipelines.sampling.edit_conditioning import instruct_pix2pix_conditioning as prepare

    try:
        with on_device(ctx, vae):
            return prepare(vae, image, positive, negative, image_cfg)
    except ValueError as exc:
        raise NodeInputError("image", str(exc)) from None
