"""ComfyUI's split sampling (SamplerCustom, SamplerCustomAdvanced) and KSamplerAdvanced's step
range, run by the one denoise loop over explicit sigmas; both outputs, as ComfyUI's: the
sampled latent and the last step's denoised estimate (x0)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from pipelines.sampling.denoise import DualCFG, StepCallback, denoise
from pipelines.sampling.schedules import advanced_run, resolve
from pipelines.values import Latent

if TYPE_CHECKING:
    from pipelines.sampling.explicit_sigmas import SigmaRun
    from pipelines.sampling_values import Guider, Sigmas
    from pipelines.values import Noise


def _last_x0(callback: StepCallback | None, wants_x0: Callable[[int, int], bool] | None,
             kept: dict[str, torch.Tensor]) -> tuple[StepCallback, Callable[[int, int], bool]]:
    """Callbacks that also keep the last step's x0 (ComfyUI's denoised_output)."""

    def wants(index: int, total: int) -> bool:
        return index == total - 1 or wants_x0 is None or wants_x0(index, total)

    def on_step(index: int, total: int, x0: torch.Tensor | None) -> None:
        if index == total - 1 and x0 is not None:
            kept["x0"] = x0
        if callback is not None:
            callback(index, total, x0)

    return on_step, wants


def _run(guider: Guider, noise: Noise, sampler: str, run: SigmaRun, latent: Latent,
         device: str | torch.device, callback: StepCallback | None,
         wants_x0: Callable[[int, int], bool] | None) -> tuple[Latent, Latent]:
    kept: dict[str, torch.Tensor] = {}
    on_step, wants = _last_x0(callback, wants_x0, kept)
    dual = None if guider.middle is None else DualCFG(guider.middle, guider.middle_cfg,
                                                        guider.nested)
    out = denoise(guider.model, guider.positive, guider.negative, latent, noise,
                  sampler=sampler, cfg=guider.cfg, device=device, callback=on_step,
                  wants_x0=wants, sigmas=run, add_noise=not noise.disabled, dual=dual)
    if "x0" not in kept:  # no steps: ComfyUI's denoised output is the output
        return out, out
    x0 = kept["x0"].to(device="cpu", dtype=torch.float32)
    return out, Latent(samples=x0.clone() if x0.is_inference() else x0,
                       noise_mask=latent.noise_mask, space=out.space)


def sample_custom(guider: Guider, noise: Noise, sampler: str, sigmas: Sigmas, latent: Latent,
                  device: str | torch.device = "cpu", callback: StepCallback | None = None,
                  wants_x0: Callable[[int, int], bool] | None = None) -> tuple[Latent, Latent]:
    """SamplerCustomAdvanced: (output, denoised_output) of ``sampler`` over ``sigmas``.

    Raises:
        ValueError: a sampler that cannot step over explicit sigmas, or bad conditionings.
    """
    run = resolve(sigmas, sampler, guider.model, tuple(latent.samples.shape))
    return _run(guider, noise, sampler, run, latent, device, callback, wants_x0)


def sample_advanced(guider: Guider, noise: Noise, sampler: str, schedule: str, steps: int,
                    start: int, end: int, leftover_noise: bool, latent: Latent,
                    device: str | torch.device = "cpu", callback: StepCallback | None = None,
                    wants_x0: Callable[[int, int], bool] | None = None) -> Latent:
    """KSamplerAdvanced: steps ``start`` to ``end`` of an n-step ``schedule``; a run that
    stops early ends at sigma 0 unless it returns its leftover noise. The whole schedule with
    noise added is exactly our Sampler's run (any sampler); a part of it needs a sampler that
    steps over explicit sigmas.

    Raises:
        ValueError: a sampler that cannot step over explicit sigmas, or bad conditionings.
    """
    if start <= 0 and end >= steps and not noise.disabled:  # the whole run: the Sampler's
        return denoise(guider.model, guider.positive, guider.negative, latent, noise,
                       sampler=sampler, schedule=schedule, steps=steps, cfg=guider.cfg,
                       device=device, callback=callback, wants_x0=wants_x0)
    run = advanced_run(guider.model, sampler, schedule, steps, start, end, leftover_noise,
                       tuple(latent.samples.shape))
    return _run(guider, noise, sampler, run, latent, device, callback, wants_x0)[0]
