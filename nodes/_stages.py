"""What the cascade and upscale nodes share (private: not a node module): the inputs of a
sampler guided by prompts over an image (Super-Resolution Sampler, Diffusion Upscale x4), the
progress-with-preview callback of such a sampler, and running one stage of an unCLIP cascade
(prior, decoder, super-resolution) on the run's device with progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from node_api.declaration import Choice, Float, Int, Link
from node_api.ports import CONDITIONING, IMAGE, MODEL, NOISE
from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES

T = TypeVar("T")


def guided_image_inputs(*, model: str, positive: str, image: str, sampler: str,
                        sampler_help: str, steps: int, cfg: float) -> list[Any]:
    """model, positive, negative, image, noise, sampler, schedule, steps, cfg."""
    return [
        Link("model", MODEL, model),
        Link("positive", CONDITIONING, positive),
        Link("negative", CONDITIONING, "What to steer away from (often an empty prompt)."),
        Link("image", IMAGE, image),
        Link("noise", NOISE),
        Choice("sampler", sampler, choices=SAMPLER_NAMES, description=sampler_help),
        Choice("schedule", "normal", choices=SCHEDULE_NAMES, description="Noise schedule."),
        Int("steps", steps, min=1, max=1000, description="Denoising steps."),
        Float("cfg", cfg, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 turns guidance off."),
    ]


def preview_progress(ctx: Any, model: Any) -> Callable[[int, int, Any], None]:
    """``callback(index, total, x0)`` reporting progress, with a cheap preview of ``x0`` when
    the front end wants previews."""
    from pipelines.sampling.previews import latent_to_rgb

    def on_step(index: int, total: int, x0: Any) -> None:
        preview = None
        if ctx.wants_previews and x0 is not None:
            preview = latent_to_rgb(x0, model.latent_rgb_factors, model.latent_rgb_bias,
                                    family=model.family)
        ctx.progress(index + 1, total, preview)

    return on_step


def run_stage(ctx: Any, network: Any, stage: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``stage(*args, device=..., callback=..., **kwargs)`` with ``network`` on the run's
    device, each step reported as progress; cancelling is checked first."""
    from nodes._models import on_device

    def on_step(index: int, total: int) -> None:
        ctx.progress(index + 1, total)

    ctx.check_cancelled()
    with on_device(ctx, network):
        return stage(*args, device=ctx.device, callback=on_step, **kwargs)
