"""Imagen-style cascades (DeepFloyd IF): load a pixel-space stage, turn its pixels into an
image, and upsample an image with a super-resolution stage (image + noise level)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CLIP, IMAGE, LATENT, MODEL
from nodes._models import load_settings, model_fingerprint, resolve_model
from nodes._stages import guided_image_inputs, preview_progress
from nodes.sampling import _sampler_schedule_pair

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise, TextEncoder


@node(
    "loaders.if_stage",
    title="Load IF Stage",
    category="loaders",
    description="Load one stage of a pixel-space cascade (DeepFloyd IF stage I or II): its "
    "UNet and noise schedule, and its T5 text encoder. Pixel models have no VAE.",
    inputs=[
        String("checkpoint", "", kind="model:checkpoints",
               description="A diffusers folder of an IF stage (e.g. IF-I-XL-v1.0, "
               "IF-II-L-v1.0), by name in the model folders or as a path."),
    ],
    outputs=[
        Output("model", MODEL, "The pixel-space UNet and its noise schedule."),
        Output("clip", CLIP, "The T5 text encoder and its tokenizer (stage I; stage II "
               "never loads its copy: encode with stage I's)."),
    ],
    fingerprint=model_fingerprint("checkpoint", "checkpoints"),
)
def load_if_stage(ctx: NodeContext, checkpoint: str) -> tuple[DiffusionModel, TextEncoder]:
    from pipelines.families import get_family
    from pipelines.loading.cached import load_checkpoint_cached

    if not checkpoint:
        raise NodeInputError("checkpoint", "pick an IF stage folder")
    model, clip, _ = load_checkpoint_cached(resolve_model(checkpoint, "checkpoints"),
                                            **load_settings(ctx))
    if not get_family(model.family).latent.pixels:
        raise NodeInputError("checkpoint", f"{checkpoint} is a latent-space model "
                             f"({model.family}); load it with Load Checkpoint")
    return model, clip


@node(
    "image.from_pixels",
    title="Pixels to Image",
    category="image",
    description="The image a pixel-space sampler drew (DeepFloyd IF): values -1..1 mapped to "
    "0..1. Latent-space models need VAE Decode instead.",
    inputs=[Link("latent", LATENT, "The output of a Sampler running a pixel-space model.")],
    outputs=[Output("image", IMAGE)],
)
def pixels_to_image(ctx: NodeContext, latent: Latent) -> Tensor:
    from pipelines.families import get_family
    from pipelines.sampling.superres import pixels_to_image as to_image

    if latent.space is None or not get_family(latent.space).latent.pixels:
        raise NodeInputError("latent", "this latent is not in pixel space (it comes from a "
                             "latent-space model); decode it with VAE Decode")
    return to_image(latent)


@node(
    "sampling.super_resolution",
    title="Super-Resolution Sampler",
    category="sampling",
    description="Upsample an image with a super-resolution diffusion stage (DeepFloyd IF "
    "stage II): the image, resized and noise-augmented to the noise level, conditions every "
    "step, guided by the prompts.",
    inputs=[
        *guided_image_inputs(
            model="A super-resolution stage (Load IF Stage).",
            positive="What the image shows (the first stage's prompt).",
            image="The low-resolution image, e.g. the first stage's.", sampler="ddpm",
            sampler_help="Sampling method; IF's own is ddpm (learned variance).", steps=50,
            cfg=4.0),
        Float("scale", 4.0, min=1.0, max=8.0, step=0.5,
              description="Output size / input size (IF stage II: 64 -> 256 is 4)."),
        Int("noise_level", 250, min=0, max=999,
            description="How much noise augments the low-resolution image (0: none); more "
            "lets the stage repair more of it."),
    ],
    outputs=[Output("latent", LATENT, "Pixels: connect Pixels to Image.")],
    check=_sampler_schedule_pair,
)
def super_resolution(
    ctx: NodeContext, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
    image: Tensor, noise: Noise, sampler: str, schedule: str, steps: int, cfg: float, scale: float,
    noise_level: int
) -> Latent:
    from nodes._models import on_device
    from pipelines.sampling.superres import super_resolve

    ctx.check_cancelled()
    with on_device(ctx, model):
        return super_resolve(model, positive, negative, image, noise, scale=scale,
                             noise_level=noise_level, sampler=sampler, schedule=schedule,
                             steps=steps, cfg=cfg, device=ctx.device,
                             callback=preview_progress(ctx, model))
