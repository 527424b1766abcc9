"""Noise schedules as values (ComfyUI's SIGMAS): schedulers and the cuts made to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, node
from node_api.ports import MODEL, SIGMAS
from node_api.values import Choice
from pipelines.catalog import SCHEDULE_NAMES

if TYPE_CHECKING:
    from pipelines.sampling_values import Sigmas
    from pipelines.values import DiffusionModel

# ComfyUI's defaults: SD1.x's sigma range
SIGMA_MAX, SIGMA_MIN = 14.614642, 0.0291675
# the inputs of the schedules made from a sigma range alone (Karras, exponential)
SIGMA_RANGE = (
    Int("steps", 20, min=1, max=10000, description="Denoising steps."),
    Float("sigma_max", SIGMA_MAX, min=0.0, max=5000.0, step=0.01, description="First sigma."),
    Float("sigma_min", SIGMA_MIN, min=0.0, max=5000.0, step=0.01,
          description="Last sigma before 0."),
)


@node(
    "sampling.basic_scheduler",
    title="Basic Scheduler",
    category="sampling/schedulers",
    description="The model's noise schedule as sigmas (ComfyUI's BasicScheduler). normal, "
    "karras, exponential, sgm_uniform and beta are the sampler's own spacing (as the Sampler "
    "node uses them); simple and ddim_uniform are ComfyUI's, from the model's sigmas. Below "
    "1, denoise keeps the last steps of a longer schedule.",
    inputs=[
        Link("model", MODEL),
        Choice("scheduler", "normal", choices=SCHEDULE_NAMES, description="Noise schedule."),
        Int("steps", 20, min=1, max=10000, description="Denoising steps."),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.01,
              description="The share of a longer schedule to keep (its last steps)."),
    ],
    outputs=[Output("sigmas", SIGMAS)],
)
def basic_scheduler(ctx: NodeContext, model: DiffusionModel, scheduler: str, steps: int,
                    denoise: float) -> Sigmas:
    from pipelines.sampling_values import Sigmas

    return Sigmas("schedule", model, scheduler, steps, denoise)


@node(
    "sampling.karras_scheduler",
    title="Karras Scheduler",
    category="sampling/schedulers",
    description="Karras et al. (2022) sigmas: evenly spaced in sigma^(1/rho), then 0.",
    inputs=[
        *SIGMA_RANGE,
        Float("rho", 7.0, min=0.0, max=100.0, step=0.01, description="Spacing exponent."),
    ],
    outputs=[Output("sigmas", SIGMAS)],
)
def karras_scheduler(ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float,
                     rho: float) -> Sigmas:
    from pipelines.sampling_values import Sigmas

    return Sigmas("karras", steps=steps, sigma_max=sigma_max, sigma_min=sigma_min, rho=rho)


@node(
    "sampling.exponential_scheduler",
    title="Exponential Scheduler",
    category="sampling/schedulers",
    description="Sigmas evenly spaced in log sigma, then 0.",
    inputs=[
        *SIGMA_RANGE,
    ],
    outputs=[Output("sigmas", SIGMAS)],
)
def exponential_scheduler(ctx: NodeContext, steps: int, sigma_max: float,
                          sigma_min: float) -> Sigmas:
    from pipelines.sampling_values import Sigmas

    return Sigmas("exponential", steps=steps, sigma_max=sigma_max, sigma_min=sigma_min)


@node(
    "sampling.sd_turbo_scheduler",
    title="SD Turbo Scheduler",
    category="sampling/schedulers",
    description="SD/SDXL Turbo's few-step schedule: the model's sigmas at timesteps 999, 899, "
    "...; denoise below 1 starts further down.",
    inputs=[
        Link("model", MODEL),
        Int("steps", 1, min=1, max=10, description="Denoising steps."),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.01, description="Where to start."),
    ],
    outputs=[Output("sigmas", SIGMAS)],
)
def sd_turbo_scheduler(ctx: NodeContext, model: DiffusionModel, steps: int,
                       denoise: float) -> Sigmas:
    from pipelines.sampling_values import Sigmas

    return Sigmas("sd_turbo", model, steps=steps, denoise=denoise)


@node(
    "sampling.split_sigmas",
    title="Split Sigmas",
    category="sampling/sigmas",
    description="Cut a schedule at a step: the high sigmas (steps before it, ending at its "
    "sigma) and the low ones (from it on). Two samplers chained over them (the second "
    "without added noise) run the whole schedule.",
    inputs=[Link("sigmas", SIGMAS), Int("step", 0, min=0, max=10000, description="Cut here.")],
    outputs=[Output("high_sigmas", SIGMAS), Output("low_sigmas", SIGMAS)],
)
def split_sigmas(ctx: NodeContext, sigmas: Sigmas, step: int) -> tuple[Sigmas, Sigmas]:
    return sigmas.cut("high", step), sigmas.cut("low", step)


@node(
    "sampling.flip_sigmas",
    title="Flip Sigmas",
    category="sampling/sigmas",
    description="Reverse a schedule (a leading 0 becomes 0.0001): sampling it adds noise "
    "back step by step (unsampling).",
    inputs=[Link("sigmas", SIGMAS)],
    outputs=[Output("sigmas", SIGMAS)],
)
def flip_sigmas(ctx: NodeContext, sigmas: Sigmas) -> Sigmas:
    return sigmas.cut("flip")
