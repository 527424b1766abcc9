"""Sampler and schedule names, mapped onto fresh diffusers scheduler instances, and the model
sampling settings around them (prediction type, zero terminal SNR, guidance rescale).

Names follow ComfyUI's where diffusers has a matching scheduler. ``lms`` and the ``beta``
schedule need scipy, ``dpmpp_sde`` needs torchsde (both are dependencies).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from pipelines.values import DiffusionModel, Noise

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
    "unipc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

SAMPLERS: tuple[str, ...] = tuple(_SAMPLERS)
SCHEDULES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform", "beta")
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "v_prediction")

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
    trailing = "timestep_spacing" in params and sampler != "lcm"
    return tuple(
        name
        for name in SCHEDULES
        if name == "normal"
        or _SCHEDULE_FLAG.get(name) in params
        or (name == "sgm_uniform" and trailing)
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
    elif schedule == "sgm_uniform":
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


def sampling_config(
    scheduler_config: dict[str, Any],
    *,
    prediction: str | None = None,
    zero_terminal_snr: bool | None = None,
) -> dict[str, Any]:
    """A copy of a scheduler config with the prediction type and zero terminal SNR overridden.

    Args:
        scheduler_config: The model's scheduler config (left unchanged).
        prediction: ``"epsilon"`` or ``"v_prediction"``; None keeps the model's.
        zero_terminal_snr: True rescales the betas to zero terminal SNR and samples with
            ``"trailing"`` timesteps (so the first step starts at pure noise), as the paper
            prescribes; False turns the rescaling off (and the trailing spacing that came with
            it, back to SD's "leading"); None keeps the model's setting.

    Returns:
        The new config dict.

    Raises:
        ValueError: An unknown prediction type.
    """
    config = dict(scheduler_config)
    if prediction is not None:
        if prediction not in PREDICTION_TYPES:
            raise ValueError(
                f"Unknown prediction type {prediction!r}; valid: {', '.join(PREDICTION_TYPES)}"
            )
        config["prediction_type"] = prediction
    if zero_terminal_snr:
        config.update(rescale_betas_zero_snr=True, timestep_spacing="trailing")
    elif zero_terminal_snr is not None:
        if config.get("rescale_betas_zero_snr") and config.get("timestep_spacing") == "trailing":
            config["timestep_spacing"] = "leading"
        config["rescale_betas_zero_snr"] = False
    if "_use_default_values" in config:  # from_config would reset the keys listed there
        changed = {k for k in config if config[k] != scheduler_config.get(k)}
        config["_use_default_values"] = [
            k for k in config["_use_default_values"] if k not in changed
        ]
    return config


def with_sampling(
    model: DiffusionModel,
    *,
    prediction: str | None = None,
    zero_terminal_snr: bool | None = None,
    guidance_rescale: float = 0.0,
) -> DiffusionModel:
    """A copy of ``model`` sampled differently (the input is cached upstream: never mutated).

    Args:
        model: The diffusion model.
        prediction: See ``sampling_config``.
        zero_terminal_snr: See ``sampling_config``.
        guidance_rescale: phi in [0, 1] for ``rescale_guidance`` (0 turns it off).

    Returns:
        A new ``DiffusionModel`` sharing the input's networks.

    Raises:
        ValueError: An unknown prediction type or a rescale outside [0, 1].
    """
    if not 0.0 <= guidance_rescale <= 1.0:
        raise ValueError(f"guidance rescale must be between 0 and 1, got {guidance_rescale}")
    config = sampling_config(
        model.scheduler_config, prediction=prediction, zero_terminal_snr=zero_terminal_snr
    )
    return dataclasses.replace(
        model,
        scheduler_config=config,
        prediction_type=str(config.get("prediction_type", "epsilon")),
        guidance_rescale=guidance_rescale,
    )


def rescale_guidance(guided: torch.Tensor, cond: torch.Tensor, phi: float) -> torch.Tensor:
    """Pull the guided prediction's per-image std back to the conditional one's, mixed by phi
    (Lin et al. 2023, section 3.4). Fixes over-exposure. The same arithmetic as diffusers'
    ``rescale_noise_cfg``, which lives in the SD pipeline module: importing it loads the whole
    pipeline stack (and its torchvision warnings) into every sampling run.

    Args:
        guided: ``uncond + cfg * (cond - uncond)`` [B, ...].
        cond: The conditional prediction [B, ...].
        phi: The mix; 0 returns ``guided``.

    Returns:
        The rescaled prediction.
    """
    dims = list(range(1, cond.ndim))
    rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return phi * rescaled + (1 - phi) * guided


def seed_noise_sampler(scheduler: Any, noise: Noise, sample: torch.Tensor) -> None:
    """Seed the Brownian-tree noise of ``dpmpp_sde`` (a no-op for other schedulers).

    diffusers would seed it from the config's ``noise_sampler_seed`` (random when unset) on
    the sample's device; we seed it from ``noise`` (``seed + i`` per image in ``per_image``
    mode) and build it on the CPU, so a seed gives the same image on every device. Call after
    ``set_timesteps``, which drops the tree.

    Args:
        scheduler: A scheduler from ``make_scheduler``.
        noise: The run's noise seed.
        sample: The starting latent (its shape, device and dtype).
    """
    if not hasattr(scheduler, "noise_sampler_seed"):
        return
    import torch
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    from pipelines.sampling.noise import SEED_MASK

    batch = sample.shape[0]
    seeds: int | list[int] = noise.seed & SEED_MASK
    if noise.mode != "batch":
        seeds = [(noise.seed + i) & SEED_MASK for i in range(batch)]
    sigmas = scheduler.sigmas
    tree = BrownianTreeNoiseSampler(
        torch.zeros(sample.shape, dtype=torch.float32),
        sigmas[sigmas > 0].min().item(),
        sigmas.max().item(),
        seeds,
    )

    def on_device(sigma: Any, sigma_next: Any) -> torch.Tensor:
        cpu = (torch.as_tensor(s).detach().cpu() for s in (sigma, sigma_next))
        return tree(*cpu).to(sample.device, sample.dtype)

    scheduler.noise_sampler = on_device
