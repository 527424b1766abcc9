"""The clean-latent estimate x0 after a scheduler step (previews and the denoised output)."""

from __future__ import annotations

from typing import Any

import torch


def predicted_x0(
    scheduler: Any, output: Any, model_output: torch.Tensor, sample: torch.Tensor, prediction: str,
    sigmas: torch.Tensor | None = None,
) -> torch.Tensor:
    """x0 for previews: the scheduler's own estimate when its step returns one, else from sigma.

    Called after ``step``, so the step's sigma is ``sigmas[step_index - 1]``. ``sigmas``: the
    schedule already on ``sample``'s device as float32 (moved once per run, not every step).
    """
    for name in ("pred_original_sample", "denoised"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    if sigmas is None:
        sigmas = scheduler.sigmas.to(sample.device, torch.float32)
    sigma = sigmas[scheduler.step_index - 1]
    if prediction == "flow_prediction" and not hasattr(scheduler, "_sigma_to_alpha_sigma_t"):
        return sample - sigma * model_output  # x = (1 - sigma) x0 + sigma eps, v = eps - x0
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t"):  # x = alpha x0 + sigma eps
        alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
        x = sample
    else:  # x = x0 + sigma eps; the model saw x / sqrt(sigma^2 + 1)
        alpha_t = (sigma**2 + 1) ** -0.5
        sigma_t, x = sigma * alpha_t, sample * alpha_t
    if prediction == "v_prediction":
        return alpha_t * x - sigma_t * model_output
    if prediction == "sample":
        return model_output
    if prediction == "flow_prediction":
        return sample - sigma_t * model_output
    return (x - sigma_t * model_output) / alpha_t
