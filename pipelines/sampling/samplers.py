"""Sampler and schedule names, mapped onto fresh diffusers scheduler instances, and the model
sampling settings around them (prediction type, zero terminal SNR, guidance rescale).

Names follow ComfyUI's where diffusers has a matching scheduler. ``lms`` and the ``beta``
schedule need scipy, ``dpmpp_sde`` needs torchsde (both are dependencies).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pipelines.sampling.explicit_sigmas import SIGMA_SCHEDULERS
from pipelines.sampling.model_sampling import (  # re-exported: callers import them from here
    PREDICTION_TYPES,
    rescale_guidance,
    sampling_config,
    with_sampling,
)
from pipelines.sampling.sde_noise import seed_noise_sampler

__all__ = ["PREDICTION_TYPES", "SAMPLERS", "SCHEDULES", "is_flow_config", "make_scheduler",
           "rescale_guidance", "sampling_config", "schedules_for", "seed_noise_sampler",
           "with_sampling"]

# sampler name -> (diffusers class name, config overrides)
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "dpmpp_2m_sde": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
    ),
    "dpmpp_sde": ("DPMSolverSDEScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),  # diffusers' default: ComfyUI's uni_pc_bh2
    # ComfyUI's uni_pc; its last step ends at sigma 0.001 (``finite_final_sigma``)
    "unipc_bh1": ("UniPCMultistepScheduler", {"solver_type": "bh1"}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

SAMPLERS: tuple[str, ...] = tuple(_SAMPLERS)
# simple and ddim_uniform are ComfyUI's, picked from the model's sigmas
# (pipelines.sampling.schedules): the samplers that step over explicit sigmas take them
TABLE_SCHEDULES: tuple[str, ...] = ("simple", "ddim_uniform")
SCHEDULES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform", "beta",
                              *TABLE_SCHEDULES)

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
_SCHEDULE_FLAG = {
    "karras": "use_karras_sigmas",
    "exponential": "use_exponential_sigmas",
    "beta": "use_beta_sigmas",
}
# Zero terminal SNR makes the last sigma infinite; diffusers' schedulers that support it clamp
# alpha_bar there to the smallest fp16 subnormal, and so do we for the ones that do not.
_ZERO_SNR_ALPHA_BAR = 2**-24


def is_flow_config(scheduler_config: dict[str, Any]) -> bool:
    """Whether a model's scheduler config is a flow-matching one (SD3, Flux)."""
    return str(scheduler_config.get("_class_name", "")).startswith("FlowMatch")


def _flow_scheduler(sampler: str, schedule: str, scheduler_config: dict[str, Any]) -> Any:
    from pipelines.sampling.flow_schedules import flow_scheduler  # flow samplers live there

    return flow_scheduler(sampler, schedule, scheduler_config)


def _scheduler_class(sampler: str) -> type:
    if sampler not in _SAMPLERS:
        raise ValueError(f"Unknown sampler {sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
    module = importlib.import_module("diffusers")
    return getattr(module, _SAMPLERS[sampler][0])


def _init_params(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def schedules_for(sampler: str, kind: str = "discrete") -> tuple[str, ...]:
    """The schedules a sampler supports (not every diffusers scheduler takes custom sigmas).

    Args:
        sampler: A name from ``SAMPLERS``.
        kind: The model's schedule kind (``ModelFamily.schedule``): "discrete" or "flow"
            (``flow_schedules.flow_schedules_for``).

    Returns:
        A subset of ``SCHEDULES``, always starting with ``"normal"``.

    Raises:
        ValueError: Unknown sampler.
    """
    if kind == "flow":
        from pipelines.sampling.flow_schedules import flow_schedules_for

        return flow_schedules_for(sampler)
    params = _init_params(_scheduler_class(sampler))
    trailing = "timestep_spacing" in params  # LCM: ComfyUI's sgm_uniform timesteps
    on_sigmas = _SAMPLERS[sampler][0] in SIGMA_SCHEDULERS or sampler == "ddim"
    return tuple(
        name
        for name in SCHEDULES
        if name == "normal"
        or _SCHEDULE_FLAG.get(name) in params
        or (name == "sgm_uniform" and trailing)
        or (name in TABLE_SCHEDULES and on_sigmas)
    )


def make_scheduler(sampler: str, schedule: str, scheduler_config: dict[str, Any]) -> Any:
    """Build a fresh scheduler (schedulers keep per-run state, so never share one).

    ``normal`` uses the model's own spacing with plain sigmas; ``karras`` and ``exponential``
    switch the sigma spacing; ``sgm_uniform`` uses ``timestep_spacing="trailing"``.

    Args:
        sampler: A name from ``SAMPLERS``.
        schedule: A name from ``SCHEDULES`` supported by the sampler (see ``schedules_for``).
        scheduler_config: The model's scheduler config (``DiffusionModel.scheduler_config``).

    Returns:
        A new diffusers scheduler instance.

    Raises:
        ValueError: Unknown sampler or schedule, or a schedule the sampler cannot do.
    """
    if is_flow_config(scheduler_config):
        return _flow_scheduler(sampler, schedule, scheduler_config)
    cls = _scheduler_class(sampler)
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
    supported = schedules_for(sampler)
    if schedule not in supported:
        raise ValueError(
            f"Sampler {sampler!r} cannot use schedule {schedule!r}; "
            f"pick one of: {', '.join(supported)}"
        )
    params = _init_params(cls)
    overrides: dict[str, Any] = dict(_SAMPLERS[sampler][1])
    # A model config saved with e.g. karras sigmas must not leak into "normal".
    overrides.update({flag: False for flag in _SIGMA_FLAGS if flag in params})
    if schedule in _SCHEDULE_FLAG:
        overrides[_SCHEDULE_FLAG[schedule]] = True
    elif schedule == "sgm_uniform" and sampler != "lcm":  # LCM: timesteps set per run
        overrides["timestep_spacing"] = "trailing"
    config = {k: v for k, v in scheduler_config.items() if k not in overrides}
    if config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in params:
        config.pop("rescale_betas_zero_snr")
        overrides["trained_betas"] = _zero_snr_betas(scheduler_config)
    return cls.from_config(config, **overrides)


def _zero_snr_betas(config: dict[str, Any]) -> list[float]:
    """Schedulers without ``rescale_betas_zero_snr`` (heun, dpm_2, lms, dpmpp_sde, deis) get the
    rescaled betas as ``trained_betas``, with alpha_bar clamped at the end as euler clamps it."""
    from pipelines.sampling.forward import NoiseSchedule

    alphas_cumprod = NoiseSchedule.from_config(config).alphas_cumprod.clone()
    alphas_cumprod[-1] = _ZERO_SNR_ALPHA_BAR
    alphas = alphas_cumprod / alphas_cumprod.roll(1)
    alphas[0] = alphas_cumprod[0]
    return (1 - alphas).tolist()


BH1_FINAL_SIGMA = 0.001  # where ComfyUI's uni_pc ends a schedule that ends at 0


def finite_final_sigma(scheduler: Any) -> None:
    """End a UniPC B(h) = h (``bh1``) run at sigma 0.001 instead of 0, as ComfyUI's ``uni_pc``
    does: on a last step to 0, B(h) = h is infinite and diffusers returns NaN. Call after
    ``set_timesteps`` (or installing sigmas); other schedulers are left alone."""
    if type(scheduler).__name__ != "UniPCMultistepScheduler" or \
            scheduler.config.get("solver_type") != "bh1":
        return
    sigmas = scheduler.sigmas
    if len(sigmas) and float(sigmas[-1]) == 0.0:
        sigmas = sigmas.clone()
        sigmas[-1] = BH1_FINAL_SIGMA
        scheduler.sigmas = sigmas
