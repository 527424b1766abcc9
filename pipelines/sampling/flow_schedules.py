"""Samplers and schedules for flow-matching models (SD3 / 3.5, Flux): which diffusers scheduler
runs each sampler on flow sigmas, which sigma spacings it takes, and the shift settings a Model
Sampling (SD3) node fixes. ``samplers.make_scheduler`` hands flow models here.

Spacings: "normal" is the pipeline's own (``StableDiffusion3Pipeline``: the scheduler's,
which is ComfyUI's "normal" for SD3; ``FluxPipeline``: evenly spaced in t, ComfyUI's
"simple"); "sgm_uniform" is ComfyUI's for flow models (steps + 1 points evenly spaced between
the sigma table's ends, the last dropped, then shifted; what SD3 workflows use, and the nearest
to "simple" for Flux's); "karras", "exponential" and "beta" respace the shifted sigmas
(``FlowMatchEulerDiscreteScheduler``'s ``use_*_sigmas``). The other solvers take "normal" only
(DPM-Solver++ and UniPC compute their own flow sigmas and would respace the wrong ones)."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel

_FLOW = {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}
# sampler name -> (diffusers class name, config overrides, schedules)
FLOW_SAMPLERS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "euler": ("FlowMatchEulerDiscreteScheduler", {},
              ("normal", "sgm_uniform", "karras", "exponential", "beta")),
    "heun": ("FlowMatchHeunDiscreteScheduler", {}, ("normal",)),
    # DPM-Solver++(2M) and UniPC on flow sigmas; flow_shift is the model's shift
    "dpmpp_2m": ("DPMSolverMultistepScheduler",
                 {**_FLOW, "algorithm_type": "dpmsolver++", "solver_order": 2}, ("normal",)),
    "unipc": ("UniPCMultistepScheduler", {**_FLOW, "solver_order": 2}, ("normal",)),
    "deis": ("DEISMultistepScheduler", dict(_FLOW), ("normal",)),
}
# ComfyUI's simple / ddim_uniform, picked from the model's sigmas and installed as explicit
# sigmas by the loop (pipelines.sampling.schedules): every flow sampler takes them
# (samplers.TABLE_SCHEDULES; not imported, samplers imports this module)
_TABLE = ("simple", "ddim_uniform")
_SPACING_FLAG = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas",
                 "beta": "use_beta_sigmas"}


def flow_samplers() -> tuple[str, ...]:
    return tuple(FLOW_SAMPLERS)


def flow_schedules_for(sampler: str) -> tuple[str, ...]:
    """The schedules a sampler takes on a flow-matching model, "normal" first.

    Raises:
        ValueError: a sampler without a flow-matching form.
    """
    if sampler not in FLOW_SAMPLERS:
        raise ValueError(f"Sampler {sampler!r} is not available for flow-matching models; "
                         f"pick one of: {', '.join(FLOW_SAMPLERS)}")
    return (*FLOW_SAMPLERS[sampler][2], *_TABLE)


def flow_scheduler(sampler: str, schedule: str, scheduler_config: dict[str, Any]) -> Any:
    """A fresh diffusers scheduler running ``sampler`` with ``schedule`` on a flow model's
    scheduler config (its shift and dynamic-shifting settings kept).

    Raises:
        ValueError: a sampler or schedule not available for flow-matching models.
    """
    supported = flow_schedules_for(sampler)
    if schedule not in supported:
        raise ValueError(f"Schedule {schedule!r} is not available for flow-matching models with "
                         f"{sampler!r}; use {' or '.join(repr(s) for s in supported)}")
    name, overrides, _ = FLOW_SAMPLERS[sampler]
    overrides = dict(overrides)
    cls = getattr(importlib.import_module("diffusers"), name)
    if "use_flow_sigmas" in overrides:
        overrides["flow_shift"] = float(scheduler_config.get("shift", 1.0))
    if schedule in _TABLE:  # the loop installs the sigmas; the scheduler is built as normal
        schedule = "normal"
    if name == "FlowMatchEulerDiscreteScheduler":  # a saved spacing must not leak into normal
        overrides.update({flag: schedule == key for key, flag in _SPACING_FLAG.items()})
    config = {k: v for k, v in scheduler_config.items() if k not in overrides}
    if schedule == "sgm_uniform":
        cls = _sgm_uniform(cls)
    if "mu" not in inspect.signature(cls.set_timesteps).parameters:
        cls = _given_sigmas(cls)  # heun: Flux's sigmas and resolution-dependent shift
    scheduler = cls.from_config(config, **overrides)
    scheduler.studio_flow_config = dict(scheduler_config)  # the shift settings, all of them
    return scheduler


@functools.cache
def _given_sigmas(cls: type) -> type:
    """``cls`` whose ``set_timesteps`` also takes a family's ``sigmas`` and ``mu`` (Flux's
    resolution-dependent shift), which FlowMatchHeun's does not: the sigmas are shifted as
    FlowMatchEulerDiscreteScheduler shifts them (from the model's whole scheduler config) and
    installed as explicit sigmas, interleaved for the second-order step."""

    def set_timesteps(self: Any, num_inference_steps: int | None = None, device: Any = None,
                      sigmas: Any = None, mu: float | None = None) -> Any:
        if sigmas is None and mu is None:
            return cls.set_timesteps(self, num_inference_steps, device=device)
        from diffusers import FlowMatchEulerDiscreteScheduler

        from pipelines.sampling.explicit_sigmas import SigmaRun, install

        steps = num_inference_steps or len(sigmas)
        config = getattr(self, "studio_flow_config", None) or dict(self.config)
        euler = FlowMatchEulerDiscreteScheduler.from_config(config)
        euler.set_timesteps(steps, device=device, sigmas=sigmas, mu=mu)
        install(self, SigmaRun(euler.sigmas.cpu()), device)  # resets the solver state too
        return None

    # the same name: the explicit-sigma code knows schedulers by their class names
    return type(cls.__name__, (cls,), {"set_timesteps": set_timesteps})


def sgm_uniform_sigmas(scheduler: Any, steps: int, mu: float | None = None) -> Any:
    """ComfyUI's sgm_uniform for a flow model, before the scheduler's shift: ``steps`` of
    ``steps + 1`` points evenly spaced from the (shifted) sigma table's first to its last
    entry. (ComfyUI's flow timestep is the shifted sigma, so it is shifted again, as here.)"""
    import numpy as np

    low = float(scheduler.sigma_min)
    if scheduler.config.use_dynamic_shifting and mu is not None:  # the table's last, shifted
        low = float(scheduler.time_shift(mu, 1.0, np.float64(low)))
    return np.linspace(float(scheduler.sigma_max), low, steps + 1)[:-1]


@functools.cache
def _sgm_uniform(cls: type) -> type:
    """``cls`` whose ``set_timesteps`` spaces sigmas as ComfyUI's sgm_uniform (a family's own
    ``sigmas``, e.g. Flux's, are replaced)."""

    def set_timesteps(self: Any, num_inference_steps: int | None = None, device: Any = None,
                      sigmas: Any = None, mu: float | None = None, timesteps: Any = None) -> Any:
        steps = num_inference_steps or len(sigmas)
        return cls.set_timesteps(self, steps, device=device, mu=mu,
                                 sigmas=sgm_uniform_sigmas(self, steps, mu))

    return type(f"SGMUniform{cls.__name__}", (cls,), {"set_timesteps": set_timesteps})


def with_flow_shift(model: DiffusionModel, shift: float) -> DiffusionModel:
    """A copy of a flow model sampled with a fixed time shift (ComfyUI's ModelSamplingSD3:
    sigma' = shift * sigma / (1 + (shift - 1) * sigma); a resolution-dependent shift is
    turned off). The networks are shared; the input model is unchanged.

    Raises:
        ValueError: a negative or zero shift.
    """
    if shift <= 0:
        raise ValueError(f"shift must be above 0, not {shift}")
    config = {**model.scheduler_config, "shift": float(shift), "use_dynamic_shifting": False}
    return dataclasses.replace(model, scheduler_config=config)
