"""Sampler and schedule names, mapped onto fresh diffusers scheduler instances.

Names follow ComfyUI's where diffusers has a matching scheduler. Left out because they need
packages this project does not depend on: ``lms`` and the ``beta`` schedule (scipy),
``dpmpp_sde`` (torchsde).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

# sampler name -> (diffusers class name, config overrides)
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "dpmpp_2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "dpmpp_2m_sde": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
    ),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

SAMPLERS: tuple[str, ...] = tuple(_SAMPLERS)
SCHEDULES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform")

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
_SCHEDULE_FLAG = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas"}


def _scheduler_class(sampler: str) -> type:
    if sampler not in _SAMPLERS:
        raise ValueError(f"Unknown sampler {sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
    module = importlib.import_module("diffusers")
    return getattr(module, _SAMPLERS[sampler][0])


def _init_params(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def schedules_for(sampler: str) -> tuple[str, ...]:
    """The schedules a sampler supports (not every diffusers scheduler takes custom sigmas).

    Args:
        sampler: A name from ``SAMPLERS``.

    Returns:
        A subset of ``SCHEDULES``, always starting with ``"normal"``.

    Raises:
        ValueError: Unknown sampler.
    """
    params = _init_params(_scheduler_class(sampler))
    supported = ["normal"]
    for name, flag in _SCHEDULE_FLAG.items():
        if flag in params:
            supported.append(name)
    if "timestep_spacing" in params and sampler != "lcm":
        supported.append("sgm_uniform")
    return tuple(supported)


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
    elif schedule == "sgm_uniform":
        overrides["timestep_spacing"] = "trailing"
    config = {k: v for k, v in scheduler_config.items() if k not in overrides}
    return cls.from_config(config, **overrides)
