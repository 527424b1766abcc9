"""Driving a diffusers scheduler over explicit sigmas (ComfyUI's SIGMAS), and the sample
space the loop hands in and out.

A run over explicit sigmas ``s_0 > ... > s_n`` takes n steps from ``s_0`` to ``s_n``; the
scheduler is set up for n steps and its sigmas and timesteps are replaced (interleaved for the
second-order samplers, as their ``set_timesteps`` does). A latent that leaves a run with
noise left (``s_n > 0``) is in ComfyUI's (k-diffusion's) space, ``x0 + sigma * eps``, whatever
the scheduler works in, so a second run with another sampler continues it exactly (ComfyUI's
KSamplerAdvanced base + refiner pairs). Flow models sample ``(1 - sigma) x0 + sigma eps``;
ComfyUI hands their leftover out divided by ``1 - sigma`` (``CONST.inverse_noise_scaling``)
and takes a latent in times ``1 - sigma`` when it adds no noise (``CONST.noise_scaling`` with
zero noise), and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# sampler -> the sampler that runs it on explicit sigmas (ComfyUI's ddim is euler on sigmas)
_ON_SIGMAS = {"ddim": "euler"}
INTERLEAVED = ("HeunDiscreteScheduler", "FlowMatchHeunDiscreteScheduler")
_WHOLE_TIMESTEPS = ("DPMSolverMultistepScheduler", "UniPCMultistepScheduler",
                    "DEISMultistepScheduler")
SIGMA_SCHEDULERS = ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
                    "LMSDiscreteScheduler", "FlowMatchEulerDiscreteScheduler",
                    *INTERLEAVED, *_WHOLE_TIMESTEPS)


@dataclass(frozen=True)
class SigmaRun:
    """Explicit sigmas for one run (n steps: n + 1 values, descending, the model's space).

    ``timesteps``: the n timesteps the scheduler would use (None: from the sigmas; one more,
    the last sigma's, where a cut run has it: a second-order sampler's last corrector step
    uses it). ``full``:
    the run starts at the top of its schedule, so added noise replaces the latent (scaled as
    the scheduler's ``init_noise_sigma``), as a full-strength run of our Sampler does.
    ``leftover``: the run was cut before its schedule's end; its result keeps its noise and
    leaves in ComfyUI's space (a schedule's own last sigma, e.g. DEIS's sigma_min, does not).
    """

    sigmas: torch.Tensor
    timesteps: torch.Tensor | None = None
    full: bool = True
    leftover: bool = False

    @property
    def steps(self) -> int:
        return max(len(self.sigmas) - 1, 0)


def sampler_on_sigmas(sampler: str) -> str:
    """The sampler name that runs ``sampler`` on explicit sigmas."""
    return _ON_SIGMAS.get(sampler, sampler)


def check_installable(scheduler: Any, sampler: str) -> None:
    """Raises: ValueError when this sampler's scheduler cannot step over given sigmas."""
    if type(scheduler).__name__ not in SIGMA_SCHEDULERS:
        raise ValueError(f"Sampler {sampler!r} cannot run on explicit sigmas here; use euler, "
                         "euler_ancestral, heun, lms, dpmpp_2m, dpmpp_2m_sde, unipc, "
                         "uni_pc_bh2, deis or ddim")


def is_flow(scheduler: Any) -> bool:
    return type(scheduler).__name__.startswith("FlowMatch") or bool(
        scheduler.config.get("use_flow_sigmas", False))


def timesteps_for(scheduler: Any, sigmas: torch.Tensor) -> torch.Tensor:
    """The timesteps of ``sigmas`` (float), as the scheduler maps sigma to t."""
    if is_flow(scheduler):
        return sigmas * scheduler.config.num_train_timesteps
    import numpy as np

    alphas_cumprod = scheduler.alphas_cumprod.cpu().numpy()
    log_sigmas = np.log(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)
    values = sigmas.double().cpu().numpy()
    return torch.tensor(np.array([scheduler._sigma_to_t(s, log_sigmas) for s in values]),
                        dtype=torch.float32)


def install(scheduler: Any, run: SigmaRun, device: torch.device,
            options: dict[str, Any] | None = None) -> None:
    """Set ``scheduler`` up to step over ``run.sigmas`` (call instead of ``set_timesteps``;
    ``options``: the family's ``set_timesteps`` keywords, e.g. Flux's ``mu``)."""
    n = run.steps
    scheduler.set_timesteps(n, device=device, **(options or {}))
    sigmas = run.sigmas.to(torch.float32).cpu()
    name = type(scheduler).__name__
    known = None
    if run.timesteps is not None:  # the scheduler's own (whole numbers where it keeps them)
        known = run.timesteps.to(torch.float32).cpu()
        timesteps = known[:n]
    else:
        timesteps = timesteps_for(scheduler, sigmas[:-1]).to(torch.float32)
        if name in _WHOLE_TIMESTEPS:
            timesteps = timesteps.round()
    if name in _WHOLE_TIMESTEPS:
        timesteps = timesteps.to(torch.int64)
    if name in INTERLEAVED:
        # a run that ends above 0 takes its last corrector step too (at the last sigma)
        tail = timesteps[:0]
        if float(sigmas[-1]) > 0:
            tail = known[n:] if known is not None and len(known) > n else timesteps_for(
                scheduler, sigmas[-1:]).to(timesteps.dtype)
        sigmas = torch.cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]])
        timesteps = torch.cat([timesteps[:1], timesteps[1:].repeat_interleave(2), tail])
    old = scheduler.sigmas
    scheduler.sigmas = sigmas.to(old.device if isinstance(old, torch.Tensor) else "cpu")
    scheduler.timesteps = timesteps.to(device)
    if hasattr(scheduler, "num_inference_steps"):
        scheduler.num_inference_steps = n


def _alpha(scheduler: Any, sigma: torch.Tensor) -> torch.Tensor | None:
    """The factor from ComfyUI's space into the scheduler's (None: the same space)."""
    if is_flow(scheduler) or not hasattr(scheduler, "_sigma_to_alpha_sigma_t"):
        return None
    return (sigma.to(torch.float32) ** 2 + 1) ** -0.5  # variance-preserving schedulers


def start_sample(scheduler: Any, run: SigmaRun, latent: torch.Tensor,
                 noise: torch.Tensor | None) -> torch.Tensor:
    """The first sample of a run over explicit sigmas, in the scheduler's space.

    ``noise`` None: the latent as it is (noise disabled: it carries its own). A full run:
    ``noise * init_noise_sigma``. Otherwise the latent noised to the first sigma.
    """
    sigma = run.sigmas[0].to(latent.device, torch.float32)
    if noise is not None and run.full:
        return noise * getattr(scheduler, "init_noise_sigma", 1.0)
    if is_flow(scheduler):  # ComfyUI's CONST.noise_scaling (zero noise when none is added)
        return (1.0 - sigma) * latent if noise is None else sigma * noise + (1.0 - sigma) * latent
    x = latent if noise is None else latent + noise * sigma
    alpha = _alpha(scheduler, sigma)
    return x if alpha is None else x * alpha


def end_sample(scheduler: Any, run: SigmaRun, x: torch.Tensor) -> torch.Tensor:
    """A run's last sample back in ComfyUI's space (only differs with noise left)."""
    sigma = run.sigmas[-1].to(x.device, torch.float32)
    if is_flow(scheduler):  # ComfyUI's CONST.inverse_noise_scaling
        return x / (1.0 - sigma) if run.leftover and 0.0 < float(sigma) < 1.0 else x
    alpha = _alpha(scheduler, sigma)
    if alpha is None or not run.leftover or float(sigma) == 0.0:
        return x
    return x / alpha
