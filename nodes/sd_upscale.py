"""Stable Diffusion's diffusion upscalers: the x4 upscaler (an image + noise level conditions
every step; VAE Decode with its own VAE gives the 4x image) and the latent x2 upscaler (an SD
latent in, a twice larger SD latent out). Load either with Load Checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import CONDITIONING, IMAGE, LATENT, MODEL, NOISE
from nodes.sampling import _sampler_schedule_pair
from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise


def _progress(ctx: Any, model: Any) -> Any:
    from pipelines.sampling.previews import latent_to_rgb

    def on_step(index: int, total: int, x0: Any) -> None:
        preview = None
        if ctx.wants_previews and x0 is not None:
            preview = latent_to_rgb(x0, model.latent_rgb_factors, model.latent_rgb_bias,
                                    family=model.family)
        ctx.progress(index + 1, total, preview)

    return on_step


@node(
    "sampling.upscale_x4",
    title="Diffusion Upscale x4",
    category="sampling",
    description="Upscale an image 4x with the Stable Diffusion x4 upscaler: the image, "
    "noise-augmented to the noise level, conditions every step, guided by the prompts. "
    "Decode the latent with the upscaler's own VAE.",
    inputs=[
        Link("model", MODEL, "The x4 upscaler (Load Checkpoint on stable-diffusion-x4-upscaler)."),
        Link("positive", CONDITIONING, "What the image shows (the upscaler's text encoder)."),
        Link("negative", CONDITIONING, "What to steer away from (often an empty prompt)."),
        Link("image", IMAGE, "The low-resolution image (128px gives 512px)."),
        Link("noise", NOISE),
        Choice("sampler", "ddim", choices=SAMPLER_NAMES, description="Sampling method."),
        Choice("schedule", "normal", choices=SCHEDULE_NAMES, description="Noise schedule."),
        Int("steps", 75, min=1, max=1000, description="Denoising steps."),
        Float("cfg", 9.0, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 turns guidance off."),
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
                       device=ctx.device, callback=_progress(ctx, model))
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
                       device=ctx.device, callback=_progress(ctx, model))
        except NotALatentUpscaler as exc:
            raise NodeInputError("model", str(exc)) from exc
