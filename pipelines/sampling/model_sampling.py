"""How a model is sampled, beside which sampler: its prediction type and zero terminal SNR
(a scheduler config rewritten), and guidance rescale (Lin et al. 2023) after CFG."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from pipelines.values import DiffusionModel

PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "v_prediction")


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
