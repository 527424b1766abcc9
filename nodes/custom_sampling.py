"""Split ("custom") sampling, as ComfyUI's: noise, sampler choice and guiders as values, the
custom samplers that run them, and the Advanced Sampler (KSamplerAdvanced's step range)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Boolean, Choice, Float, Int, Link, Output, node
from node_api.errors import NodeInputError
from node_api.ports import CONDITIONING, GUIDER, LATENT, MODEL, NOISE, SAMPLER, SIGMAS, VAE
from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES, SCHEDULES_FOR

if TYPE_CHECKING:
    from pipelines.sampling_values import Guider, SamplerChoice, Sigmas
    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise, Vae

_SAMPLED = (Output("output", LATENT, "The sampled latent (with any noise left)."),
            Output("denoised_output", LATENT, "The last step's estimate of the clean latent."))


@node("sampling.disable_noise", title="Disable Noise", category="sampling/noise",
      description="No noise: the sampler starts from the latent as it is (a latent that "
      "still carries noise, e.g. a base model's leftover noise).",
      inputs=[], outputs=[Output("noise", NOISE)])
def disable_noise(ctx: NodeContext) -> Noise:
    from pipelines.values import Noise

    return Noise(seed=0, disabled=True)


@node("sampling.sampler_select", title="Sampler Select", category="sampling/samplers",
      description="Pick a sampling method for the custom samplers (ComfyUI's KSamplerSelect).",
      inputs=[Choice("sampler", "euler", choices=SAMPLER_NAMES, description="Sampling method.")],
      outputs=[Output("sampler", SAMPLER)])
def sampler_select(ctx: NodeContext, sampler: str) -> SamplerChoice:
    from pipelines.sampling_values import SamplerChoice

    return SamplerChoice(sampler)


@node("sampling.basic_guider", title="Basic Guider", category="sampling/guiders",
      description="The model on one conditioning, no classifier-free guidance (Flux and other "
      "guidance-distilled models: their guidance is in the conditioning).",
      inputs=[Link("model", MODEL), Link("conditioning", CONDITIONING)],
      outputs=[Output("guider", GUIDER)])
def basic_guider(ctx: NodeContext, model: DiffusionModel, conditioning: Conditioning) -> Guider:
    from pipelines.sampling_values import Guider

    return Guider(model, conditioning)


@node("sampling.cfg_guider", title="CFG Guider", category="sampling/guiders",
      description="Classifier-free guidance: uncond + cfg * (cond - uncond).",
      inputs=[Link("model", MODEL), Link("positive", CONDITIONING),
              Link("negative", CONDITIONING),
              Float("cfg", 8.0, min=0.0, max=100.0, step=0.1,
                    description="Guidance scale; 1 turns guidance off.")],
      outputs=[Output("guider", GUIDER)])
def cfg_guider(ctx: NodeContext, model: DiffusionModel, positive: Conditioning,
               negative: Conditioning, cfg: float) -> Guider:
    from pipelines.sampling_values import Guider

    return Guider(model, positive, negative, cfg)


@node("sampling.dual_cfg_guider", title="Dual CFG Guider", category="sampling/guiders",
      description="Two prompts and a negative: neg + cfg_cond2_negative * (cond2 - neg) + "
      "cfg_conds * (cond1 - cond2) (regular), or cond1 guided from cond2 and the result from "
      "the negative (nested).",
      inputs=[Link("model", MODEL), Link("cond1", CONDITIONING), Link("cond2", CONDITIONING),
              Link("negative", CONDITIONING),
              Float("cfg_conds", 8.0, min=0.0, max=100.0, step=0.1,
                    description="Scale from cond2 to cond1."),
              Float("cfg_cond2_negative", 8.0, min=0.0, max=100.0, step=0.1,
                    description="Scale from the negative to cond2."),
              Choice("style", "regular", choices=("regular", "nested"),
                     description="How the two scales combine.")],
      outputs=[Output("guider", GUIDER)])
def dual_cfg_guider(ctx: NodeContext, model: DiffusionModel, cond1: Conditioning,
                    cond2: Conditioning, negative: Conditioning, cfg_conds: float,
                    cfg_cond2_negative: float, style: str) -> Guider:
    from pipelines.sampling_values import Guider

    return Guider(model, cond1, negative, cfg_conds, cond2, cfg_cond2_negative,
                  style == "nested")


def _sample(ctx: NodeContext, guider: Guider, vae: Vae | None, run: Callable[..., Any],
            latent: Latent) -> Any:
    """Run ``run(guider, latent, device, on_step, wants_x0)`` with the networks on the
    device, progress and previews; a sampler or schedule the loop refuses names the field."""
    from nodes._latents import fit_to_model
    from nodes._models import on_device
    from nodes._progress import step_callbacks
    from pipelines.sampling.control import control_networks

    ctx.check_cancelled()
    on_step, wants_x0 = step_callbacks(ctx, guider.model, vae)
    controls = [*control_networks(guider.positive, guider.negative)]
    with on_device(ctx, guider.model, vae, *controls):
        try:
            return run(guider, fit_to_model(latent, guider.model), ctx.device, on_step,
                       wants_x0)
        except ValueError as exc:
            field = "sampler" if "ampler" in str(exc) else "sigmas"
            raise NodeInputError(field, str(exc)) from exc


@node("sampling.sampler_custom_advanced", title="Sampler Custom Advanced",
      category="sampling/custom",
      description="Sample with separate noise, guider, sampler and sigmas (ComfyUI's "
      "SamplerCustomAdvanced): the Flux/SD3 workflows' sampler.",
      inputs=[Link("noise", NOISE), Link("guider", GUIDER), Link("sampler", SAMPLER),
              Link("sigmas", SIGMAS), Link("latent", LATENT),
              Link("vae", VAE, "Optional: full VAE-decoded previews.", optional=True)],
      outputs=list(_SAMPLED))
def sampler_custom_advanced(ctx: NodeContext, noise: Noise, guider: Guider,
                            sampler: SamplerChoice, sigmas: Sigmas, latent: Latent,
                            vae: Vae | None) -> tuple[Latent, Latent]:
    from pipelines.sampling.custom import sample_custom

    def run(g: Guider, fitted: Latent, device: Any, on_step: Any, wants: Any) -> Any:
        return sample_custom(g, noise, sampler.name, sigmas, fitted, device, on_step, wants)

    return _sample(ctx, guider, vae, run, latent)


@node("sampling.sampler_custom", title="Sampler Custom", category="sampling/custom",
      description="Sample with a sampler and sigmas of your choice and classifier-free "
      "guidance (ComfyUI's SamplerCustom).",
      inputs=[Link("model", MODEL), Link("positive", CONDITIONING),
              Link("negative", CONDITIONING), Link("sampler", SAMPLER), Link("sigmas", SIGMAS),
              Link("latent", LATENT), Link("noise", NOISE),
              Link("vae", VAE, "Optional: full VAE-decoded previews.", optional=True),
              Boolean("add_noise", True, description="Off: the latent already has its noise."),
              Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, description="Guidance scale.")],
      outputs=list(_SAMPLED))
def sampler_custom(ctx: NodeContext, model: DiffusionModel, positive: Conditioning,
                   negative: Conditioning, sampler: SamplerChoice, sigmas: Sigmas,
                   latent: Latent, noise: Noise, vae: Vae | None, add_noise: bool,
                   cfg: float) -> tuple[Latent, Latent]:
    import dataclasses

    from pipelines.sampling.custom import sample_custom
    from pipelines.sampling_values import Guider

    noise = dataclasses.replace(noise, disabled=noise.disabled or not add_noise)

    def run(g: Guider, fitted: Latent, device: Any, on_step: Any, wants: Any) -> Any:
        return sample_custom(g, noise, sampler.name, sigmas, fitted, device, on_step, wants)

    return _sample(ctx, Guider(model, positive, negative, cfg), vae, run, latent)


def _advanced_check(values: dict) -> list[tuple[str, str]]:
    supported = SCHEDULES_FOR.get(values["sampler"], SCHEDULE_NAMES)
    if values["schedule"] not in supported:
        return [("schedule", f"{values['schedule']!r} does not work with sampler "
                 f"{values['sampler']!r}; use one of: {', '.join(supported)}")]
    return []


@node("sampling.sampler_advanced", title="Advanced Sampler", category="sampling",
      description="The Sampler over a step range of its schedule (ComfyUI's KSamplerAdvanced): "
      "a base model runs steps 0..k and returns its leftover noise, a refiner continues k..n "
      "without adding noise; together they equal one n-step run.",
      inputs=[Link("model", MODEL), Link("positive", CONDITIONING),
              Link("negative", CONDITIONING), Link("latent", LATENT), Link("noise", NOISE),
              Link("vae", VAE, "Optional: full VAE-decoded previews.", optional=True),
              Choice("sampler", "euler", choices=SAMPLER_NAMES, description="Sampling method."),
              Choice("schedule", "normal", choices=SCHEDULE_NAMES, description="Noise schedule."),
              Int("steps", 20, min=1, max=10000, description="Steps of the whole schedule."),
              Float("cfg", 8.0, min=0.0, max=100.0, step=0.5, description="Guidance scale."),
              Boolean("add_noise", True, description="Off: the latent already has its noise."),
              Int("start_at_step", 0, min=0, max=10000, description="First step to run."),
              Int("end_at_step", 10000, min=0, max=10000, description="Stop before this step."),
              Boolean("return_with_leftover_noise", False,
                      description="On: stop early with the noise left (for a refiner); off: "
                      "the last step goes to a clean latent.")],
      outputs=[Output("latent", LATENT)], check=_advanced_check)
def sampler_advanced(ctx: NodeContext, model: DiffusionModel, positive: Conditioning,
                     negative: Conditioning, latent: Latent, noise: Noise, vae: Vae | None,
                     sampler: str, schedule: str, steps: int, cfg: float, add_noise: bool,
                     start_at_step: int, end_at_step: int,
                     return_with_leftover_noise: bool) -> Latent:
    import dataclasses

    from pipelines.sampling.custom import sample_advanced
    from pipelines.sampling_values import Guider

    noise = dataclasses.replace(noise, disabled=noise.disabled or not add_noise)

    def run(g: Guider, fitted: Latent, device: Any, on_step: Any, wants: Any) -> Any:
        return sample_advanced(g, noise, sampler, schedule, steps, start_at_step, end_at_step,
                               return_with_leftover_noise, fitted, device, on_step, wants)

    return _sample(ctx, Guider(model, positive, negative, cfg), vae, run, latent)
