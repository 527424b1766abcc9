"""Stable Diffusion's diffusion upscalers: the x4 upscaler (an image + noise level conditions
every step; VAE Decode with its own VAE gives the 4x image) and the latent x2 upscaler (an SD
latent in, a twice larger SD latent out). Load either with Load Checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import CONDITIONING, LATENT, MODEL, NOISE
from nodes._stages import guided_image_inputs, preview_progress
from nodes.sampling import _sampler_schedule_pair

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise


@node(
    "sampling.upscale_x4",
    title="Diffusion Upscale x4",
    category="sampling",
    description="Upscale an image 4x with the Stable Diffusion x4 upscaler: the image, "
    "noise-augmented to the noise level, conditions every step, guided by the prompts. "
    "Decode the latent with the upscaler's own VAE.",
    inputs=[
        *guided_image_inputs(
            model="The x4 upscaler (Load Checkpoint on stable-diffusion-x4-upscaler).",
            positive="What the image shows (the upscaler's text encoder).",
            image="The low-resolution image (128px gives 512px).", sampler="ddim",
            sampler_help="Sampling method.", steps=75, cfg=9.0),
        Int("noise_level", 20, min=0, max=350,
            description="How much noise augments the image (0: none); more lets the "
            "upscaler invent more detail and repair more of it."),
    ],
    outputs=[Output("latent", LATENT, "The upscaler's latent: VAE Decode with its VAE.")],
    check=_sampler_schedule_pair,
)
def upscale_x4(
    ctx: NodeContext, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
    image: Tensor, noise: Noise, sampler: str, schedule: str, steps: int, cfg: float,
    noise_level: int,
) -> Latent:
    from nodes._models import on_device
    from pipelines.sampling.upscale import NotAnUpscaler
    from pipelines.sampling.upscale import upscale_x4 as run

    ctx.check_cancelled()
    with on_device(ctx, model):
        try:
            return run(model, positive, negative, image, noise, noise_level=noise_level,
                       sampler=sampler, schedule=schedule, steps=steps, cfg=cfg,
                       device=ctx.device, callback=preview_progress(ctx, model))
        except NotAnUpscaler as exc:
            raise NodeInputError("model", str(exc)) from exc


@node(
    "sampling.upscale_latent_x2",
    title="Latent Diffusion Upscale x2",
    category="sampling",
    description="Upscale an SD 1.x/2.x latent 2x with the Stable Diffusion latent x2 "
    "upscaler (Euler, guided by prompts encoded with the upscaler's own text encoder). "
    "Decode the result with the SD VAE (the upscaler's).",
    inputs=[
        Link("model", MODEL, "The latent upscaler (Load Checkpoint on sd-x2-latent-upscaler)."),
        Link("positive", CONDITIONING, "What the image shows (the upscaler's text encoder)."),
        Link("negative", CONDITIONING, "What to steer away from (often an empty prompt)."),
        Link("latent", LATENT, "An SD latent, e.g. a Sampler's output or VAE Encode's."),
        Link("noise", NOISE),
        Int("steps", 20, min=1, max=1000, description="Euler steps."),
        Float("cfg", 9.0, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 turns guidance off."),
    ],
    outputs=[Output("latent", LATENT, "An SD latent twice as large: VAE Decode it.")],
)
def upscale_latent_x2(
    ctx: NodeContext, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
    latent: Latent, noise: Noise, steps: int, cfg: float,
) -> Latent:
    from nodes._models import on_device
    from pipelines.sampling.latent_upscale import NotALatentUpscaler
    from pipelines.sampling.latent_upscale import upscale_latent_x2 as run

    ctx.check_cancelled()
    with on_device(ctx, model):
        try:
            return run(model, positive, negative, latent, noise, steps=steps, cfg=cfg,
                       device=ctx.device, callback=preview_progress(ctx, model))
        except NotALatentUpscaler as exc:
            raise NodeInputError("model", str(exc)) from exc
