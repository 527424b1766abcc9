"""Sampling nodes: noise, the sampler (the reverse process) and forward diffusion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.ports import CONDITIONING, LATENT, MODEL, NOISE, VAE
from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES, SCHEDULES_FOR

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise, Vae

MAX_SEED = 2**63 - 1


@node(
    "sampling.noise",
    title="Noise Source",
    category="sampling",
    description="Reproducible Gaussian noise generated on the CPU, so a seed gives the "
    "same image on every device.",
    inputs=[
        Int("seed", 0, min=0, max=MAX_SEED, widget="seed", description="Random seed."),
        Choice("mode", "batch", choices=("batch", "per_image"),
               description="batch: one stream for the whole batch (as diffusers); "
               "per_image: image i uses seed+i, so any image can be re-made alone."),
        Int("step_seed_delta", 0, min=0, max=MAX_SEED,
            description="0: stochastic samplers (euler_ancestral, ...) draw their per-step "
            "noise after the starting noise, from the same stream; otherwise from a stream "
            "seeded seed + this (AUTOMATIC1111's 'Eta noise seed delta', often 31337)."),
    ],
    outputs=[Output("noise", NOISE)],
)
def noise_source(ctx: NodeContext, seed: int, mode: str, step_seed_delta: int) -> Noise:
    from pipelines.values import Noise

    return Noise(seed=seed, mode=mode, step_seed_delta=step_seed_delta)


def _sampler_schedule_pair(values: dict) -> list[tuple[str, str]]:
    supported = SCHEDULES_FOR.get(values["sampler"], SCHEDULE_NAMES)
    if values["schedule"] not in supported:
        return [("schedule", f"{values['schedule']!r} does not work with sampler "
                 f"{values['sampler']!r}; use one of: {', '.join(supported)}")]
    return []


@node(
    "sampling.sampler",
    title="Sampler",
    category="sampling",
    description="Denoise a latent from noise, guided by the prompts (classifier-free "
    "guidance), with a diffusers scheduler.",
    inputs=[
        Link("model", MODEL),
        Link("positive", CONDITIONING, "What the image should show."),
        Link("negative", CONDITIONING, "What to steer away from (often an empty prompt)."),
        Link("latent", LATENT, "Empty Latent for text-to-image, or an encoded image."),
        Link("noise", NOISE),
        Link("vae", VAE, "Optional: full VAE-decoded previews every N steps (run setting).",
             optional=True),
        Choice("sampler", "euler", choices=SAMPLER_NAMES, description="Sampling method."),
        Choice("schedule", "normal", choices=SCHEDULE_NAMES, description="Noise schedule."),
        Int("steps", 20, min=1, max=1000, description="Denoising steps."),
        Float("cfg", 7.5, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 turns guidance off."),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.05,
              description="How much of the schedule to run; below 1 keeps some of the input."),
    ],
    outputs=[Output("latent", LATENT)],
    check=_sampler_schedule_pair,
)
def sampler(
    ctx: NodeContext, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
    latent: Latent, noise: Noise, vae: Vae | None, sampler: str, schedule: str, steps: int,
    cfg: float, denoise: float
) -> Latent:
    from nodes._latents import fit_to_model
    from pipelines.sampling.denoise import denoise as run_denoise
    from pipelines.sampling.previews import PreviewRenderer, PreviewThrottle

    every = ctx.options.preview_vae_every
    throttle = PreviewThrottle()  # previews cost nothing measurable: ~12 a second at most
    render = PreviewRenderer(model.latent_rgb_factors, model.latent_rgb_bias, model.family)

    def vae_preview_due(index: int) -> bool:
        return vae is not None and bool(every) and (index + 1) % every == 0

    def wants_x0(index: int, total: int) -> bool:
        return ctx.wants_previews and (vae_preview_due(index) or throttle.due(index, total))

    def on_step(index: int, total: int, x0: Tensor | None) -> None:
        preview = None
        if x0 is not None and vae_preview_due(index):
            from pipelines.sampling.previews import decode_preview

            preview = decode_preview(vae, x0)
        elif x0 is not None:
            preview = render(x0, final=index == total - 1)
        ctx.progress(index + 1, total, preview)

    from nodes._models import on_device
    from pipelines.sampling.control import control_networks

    ctx.check_cancelled()
    controls = control_networks(positive, negative)  # ControlNets applied to the prompts
    from pipelines.speed.accelerate import accelerated, compile_notices
    from pipelines.speed.compile_times import compiling_text

    def compiling(estimate: float | None) -> None:  # the first step at this size compiles
        ctx.status(compiling_text(estimate))

    with on_device(ctx, model, vae, *controls):  # low-VRAM mode: the UNet visits the GPU only now
        if ctx.options.accelerate not in (None, "off"):
            import torch

            model = accelerated(model, ctx.options.accelerate, torch.device(ctx.device),
                                warn=ctx.message)
        with compile_notices(compiling):
            return run_denoise(
                model, positive, negative, fit_to_model(latent, model), noise,
                sampler=sampler, schedule=schedule, steps=steps, cfg=cfg, denoise=denoise,
                device=ctx.device, callback=on_step, wants_x0=wants_x0,
            )


@node(
    "sampling.add_noise",
    title="Add Noise",
    category="sampling",
    description="Forward diffusion: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, "
    "with the model's noise schedule.",
    inputs=[
        Link("model", MODEL, "Supplies the noise schedule (beta_t)."),
        Link("latent", LATENT, "The clean latent x_0."),
        Link("noise", NOISE),
        Int("timestep", 500, min=0, max=999, description="t: 0 is clean, 999 nearly pure noise."),
    ],
    outputs=[Output("latent", LATENT)],
)
def add_noise(
    ctx: NodeContext, model: DiffusionModel, latent: Latent, noise: Noise, timestep: int
) -> Latent:
    import dataclasses

    from nodes._latents import fit_to_model
    from pipelines.sampling.forward import NoiseSchedule
    from pipelines.sampling.forward import add_noise as forward

    latent = fit_to_model(latent, model)
    schedule = NoiseSchedule.from_config(model.scheduler_config)
    timestep = min(timestep, len(schedule.alphas_cumprod) - 1)
    eps = noise.sample(tuple(latent.samples.shape))
    return dataclasses.replace(latent, samples=forward(latent.samples, eps, timestep, schedule))
