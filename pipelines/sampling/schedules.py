"""Noise schedules as explicit sigmas: ComfyUI's schedulers and ours, for one run.

- our schedule names (normal, karras, exponential, sgm_uniform, beta): the sigmas and
  timesteps the run's sampler's own diffusers scheduler makes (so a Basic Scheduler run
  equals our Sampler's), Euler's where that sampler has no such schedule;
- ``simple`` and ``ddim_uniform``: ComfyUI's definitions, picked from the model's table of
  sigmas (1000 of them: discrete ``sqrt((1 - alpha_bar) / alpha_bar)``, flow the shifted
  ``t / 1000``), exactly;
- Karras, exponential (k-diffusion's formulas), SD Turbo (timesteps 999, 899, ...);
- ComfyUI's cuts: BasicScheduler's denoise, KSamplerAdvanced's start/end steps and leftover
  noise, SplitSigmas, FlipSigmas.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from pipelines.families import get_family
from pipelines.sampling import explicit_sigmas
from pipelines.sampling.explicit_sigmas import SigmaRun
from pipelines.sampling.samplers import (
    TABLE_SCHEDULES,
    is_flow_config,
    make_scheduler,
    schedules_for,
)

if TYPE_CHECKING:
    from pipelines.sampling_values import Sigmas
    from pipelines.values import DiffusionModel



def sigma_table(model: DiffusionModel, shape: tuple[int, ...]) -> torch.Tensor:
    """The model's 1000 sigmas, ascending, as ComfyUI's ``model_sampling.sigmas``."""
    config = model.scheduler_config
    steps = int(config.get("num_train_timesteps", 1000))
    if is_flow_config(config):
        t = torch.arange(1, steps + 1, dtype=torch.float64) / steps
        scheduler = make_scheduler("euler", "normal", config)
        options = get_family(model.family).timestep_options(model, scheduler, shape, 1)
        if config.get("use_dynamic_shifting") and "mu" in options:
            mu = float(options["mu"])
            if config.get("time_shift_type", "exponential") == "linear":
                return (mu / (mu + (1 / t - 1))).float()
            return (math.exp(mu) / (math.exp(mu) + (1 / t - 1))).float()
        shift = float(config.get("shift", 1.0))
        return (shift * t / (1 + (shift - 1) * t)).float()
    kind = config.get("beta_schedule", "linear")
    plain = config.get("trained_betas") is None and not config.get("rescale_betas_zero_snr")
    if plain and kind in ("linear", "scaled_linear"):  # in float64, as ComfyUI builds it
        start, end = float(config.get("beta_start", 0.0001)), float(config.get("beta_end", 0.02))
        if kind == "scaled_linear":
            betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
        else:
            betas = torch.linspace(start, end, steps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    else:
        from pipelines.sampling.forward import NoiseSchedule

        alphas_cumprod = NoiseSchedule.from_config(config).alphas_cumprod.double()
    return (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float()


def table_schedule(name: str, table: torch.Tensor, steps: int) -> torch.Tensor:
    """ComfyUI's ``simple`` or ``ddim_uniform`` schedule (steps + 1 sigmas, ending at 0)."""
    if name == "simple":
        every = len(table) / steps
        picked = [float(table[-(1 + int(i * every))]) for i in range(steps)]
        return torch.tensor([*picked, 0.0], dtype=torch.float32)
    if name != "ddim_uniform":
        raise ValueError(f"Unknown schedule {name!r}")
    x, picked = 1, []
    if math.isclose(float(table[x]), 0, abs_tol=0.00001):
        steps += 1
    else:
        picked = [0.0]
    every = max(len(table) // steps, 1)
    while x < len(table):
        picked.append(float(table[x]))
        x += every
    return torch.tensor(picked[::-1], dtype=torch.float32)


def karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022): sigmas evenly spaced in sigma^(1/rho), then 0."""
    ramp = torch.linspace(0, 1, steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return torch.cat([(hi + ramp * (lo - hi)) ** rho, torch.zeros(1)])


def exponential(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Sigmas evenly spaced in log sigma, then 0."""
    return torch.cat([torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp(),
                      torch.zeros(1)])


def _table_sigma(table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sigma at (fractional) timesteps, interpolated in log sigma (ComfyUI's ``sigma(t)``)."""
    t = t.float().clamp(0, len(table) - 1)
    low, high = t.floor().long(), t.ceil().long()
    w = t - low
    log = table.log()
    return ((1 - w) * log[low] + w * log[high]).exp()


def sd_turbo(table: torch.Tensor, steps: int, denoise: float) -> torch.Tensor:
    """ComfyUI's SDTurboScheduler: timesteps 999, 899, ... from ``10 - int(10 * denoise)``."""
    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
    return torch.cat([_table_sigma(table, timesteps), torch.zeros(1)])


def own_schedule(model: DiffusionModel, sampler: str, schedule: str, steps: int,
                 shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(steps + 1 sigmas, their steps timesteps or None) of ``schedule`` for ``sampler``."""
    if schedule in TABLE_SCHEDULES:
        return table_schedule(schedule, sigma_table(model, shape), steps), None
    name = explicit_sigmas.sampler_on_sigmas(sampler)
    flow = is_flow_config(model.scheduler_config)
    try:
        scheduler = make_scheduler(name, schedule, model.scheduler_config)
        explicit_sigmas.check_installable(scheduler, name)
        if not flow and schedule not in schedules_for(name):
            raise ValueError(name)
    except ValueError:  # spacing of a sampler that cannot take these sigmas: Euler's
        scheduler = make_scheduler("euler", schedule, model.scheduler_config)
    family = get_family(model.family)
    scheduler.set_timesteps(steps, **family.timestep_options(model, scheduler, shape, steps))
    sigmas = scheduler.sigmas.detach().float().cpu()
    timesteps = scheduler.timesteps.detach().float().cpu()
    if type(scheduler).__name__ in explicit_sigmas.INTERLEAVED:
        sigmas = torch.cat([sigmas[:1], sigmas[1:-1:2], sigmas[-1:]])
        timesteps = torch.cat([timesteps[:1], timesteps[1::2]])
    return sigmas, timesteps


def _top(sigmas: torch.Tensor, table: torch.Tensor) -> bool:
    """ComfyUI's "max denoise": the first sigma is (about) the model's largest."""
    return len(sigmas) > 0 and float(sigmas[0]) >= float(table.max()) * (1 - 1e-5)


def resolve(sigmas: Sigmas, sampler: str, model: DiffusionModel,
            shape: tuple[int, ...]) -> SigmaRun:
    """The explicit sigmas of a ``Sigmas`` value for a run of ``sampler`` on a latent of
    ``shape`` (the model the sigmas were made for, else the run's ``model``)."""
    source = sigmas.model or model
    timesteps: torch.Tensor | None = None
    if sigmas.kind == "schedule":
        steps, total = sigmas.steps, sigmas.steps
        if sigmas.denoise < 1.0:
            if sigmas.denoise <= 0.0:
                return SigmaRun(torch.zeros(0))
            total = int(steps / sigmas.denoise)
        values, timesteps = own_schedule(source, sampler, sigmas.schedule, total, shape)
        values = values[-(steps + 1):]
        timesteps = None if timesteps is None else timesteps[len(timesteps) - steps:]
        full = sigmas.denoise >= 1.0
    else:
        if sigmas.kind == "karras":
            values = karras(sigmas.steps, sigmas.sigma_min, sigmas.sigma_max, sigmas.rho)
        elif sigmas.kind == "exponential":
            values = exponential(sigmas.steps, sigmas.sigma_min, sigmas.sigma_max)
        elif sigmas.kind == "sd_turbo":
            values = sd_turbo(sigma_table(source, shape), sigmas.steps, sigmas.denoise)
        else:
            values = torch.tensor(sigmas.values, dtype=torch.float32)
        full = _top(values, sigma_table(source, shape))
    leftover = False
    for how, step in sigmas.cuts:
        if how == "high":
            leftover = leftover or step + 1 < len(values)
            values = values[:step + 1]
            timesteps = None if timesteps is None else timesteps[:step + 1]
        elif how == "low":
            values = values[step:]
            timesteps = None if timesteps is None else timesteps[step:]
            full = full and step == 0
        else:  # ComfyUI's FlipSigmas: reversed, a leading 0 made 0.0001
            values = values.flip(0).clone()
            if len(values) and float(values[0]) == 0.0:
                values[0] = 0.0001
            timesteps, full = None, False
    return SigmaRun(values.float(), timesteps, full, leftover)


def advanced_run(model: DiffusionModel, sampler: str, schedule: str, steps: int,
                 start: int, end: int, leftover_noise: bool, shape: tuple[int, ...],
                 denoise: float = 1.0) -> SigmaRun:
    """KSampler(Advanced)'s sigmas: ``steps`` of ``schedule``; a run that ends before the
    last step goes to 0 unless it returns its leftover noise; steps from ``start`` on (none
    when ``start`` is at or past the end). ``denoise`` < 1 cuts as BasicScheduler does."""
    from pipelines.sampling_values import Sigmas

    run = resolve(Sigmas("schedule", model, schedule, steps, denoise), sampler, model, shape)
    values, timesteps, leftover = run.sigmas.clone(), run.timesteps, False
    if end < len(values) - 1:
        leftover = leftover_noise
        values = values[:end + 1]
        timesteps = None if timesteps is None else timesteps[:end + int(leftover)]
        if not leftover_noise:
            values[-1] = 0.0
    if start > 0:
        if start >= len(values) - 1:
            return SigmaRun(torch.zeros(0), None, False)
        values = values[start:]
        timesteps = None if timesteps is None else timesteps[start:]
    return SigmaRun(values, timesteps, run.full and start == 0, leftover)


def lcm_timesteps(schedule: str, steps: int, config: dict[str, Any]) -> list[int] | None:
    """LCM under ComfyUI's ``sgm_uniform``: timesteps evenly spaced from the last training
    step down (``steps + 1`` points, the last dropped), rounded to whole steps as the LCM
    scheduler indexes them; None for LCM's own spacing."""
    if schedule != "sgm_uniform":
        return None
    last = int(config.get("num_train_timesteps", 1000)) - 1
    return [int(t) for t in torch.linspace(last, 0, steps + 1)[:-1].round().tolist()]
