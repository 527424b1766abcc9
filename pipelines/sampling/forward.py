"""Forward diffusion: the DDPM noise schedule and q(x_t | x_0), written out from the formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

BETA_SCHEDULES: tuple[str, ...] = ("linear", "scaled_linear", "squaredcos_cap_v2")


def _cosine_betas(num_steps: int, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule, alpha_bar(t) = cos^2((t + s) / (1 + s) * pi / 2)."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [
        min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta)
        for i in range(num_steps)
    ]
    return torch.tensor(betas, dtype=torch.float32)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(alpha_bar) so the last step is pure noise (SNR 0) and the first is
    unchanged: Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed", Alg. 1.

    Args:
        betas: The schedule's betas [T].

    Returns:
        The rescaled betas [T]; the last one is 1.
    """
    alphas_bar_sqrt = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * (first / (first - last))
    alphas_bar = alphas_bar_sqrt**2
    alphas = torch.cat([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    return 1 - alphas


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """The discrete DDPM schedule: ``betas`` [T] and ``alphas_cumprod`` (alpha-bar) [T]."""

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor

    @property
    def num_train_timesteps(self) -> int:
        """Returns: T, the number of training timesteps."""
        return int(self.betas.shape[0])

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NoiseSchedule:
        """Build the schedule described by a diffusers scheduler config.

        Args:
            config: Keys ``beta_schedule``, ``beta_start``, ``beta_end``, ``num_train_timesteps``
                (diffusers' defaults when absent) and optionally ``trained_betas`` and
                ``rescale_betas_zero_snr`` (zero terminal SNR: ``alphas_cumprod[-1] == 0``).

        Returns:
            The schedule, float32 on the CPU.

        Raises:
            ValueError: An unsupported ``beta_schedule``.
        """
        steps = int(config.get("num_train_timesteps", 1000))
        start = float(config.get("beta_start", 0.0001))
        end = float(config.get("beta_end", 0.02))
        kind = config.get("beta_schedule", "linear")
        if config.get("trained_betas") is not None:
            betas = torch.tensor(config["trained_betas"], dtype=torch.float32)
        elif kind == "linear":
            betas = torch.linspace(start, end, steps, dtype=torch.float32)
        elif kind == "scaled_linear":
            betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float32) ** 2
        elif kind == "squaredcos_cap_v2":
            betas = _cosine_betas(steps)
        else:
            raise ValueError(
                f"Unsupported beta_schedule {kind!r}; supported: {', '.join(BETA_SCHEDULES)}"
            )
        if config.get("rescale_betas_zero_snr"):
            betas = rescale_zero_terminal_snr(betas)
        return cls(betas=betas, alphas_cumprod=torch.cumprod(1.0 - betas, dim=0))


def add_noise(
    x0: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Sample q(x_t | x_0): ``x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * eps``.

    Args:
        x0: Clean samples [B, ...].
        eps: Standard Gaussian noise, same shape as ``x0``.
        t: One timestep for the whole batch, or a 1-D tensor of B timesteps (one per item).
        schedule: The noise schedule.

    Returns:
        The noisy samples, same shape and dtype as ``x0``.

    Raises:
        ValueError: A timestep outside [0, T) or a timestep count that is not 1 or B.
    """
    t = torch.as_tensor(t, dtype=torch.long).reshape(-1)
    if t.numel() not in (1, x0.shape[0]):
        raise ValueError(f"Got {t.numel()} timesteps for a batch of {x0.shape[0]}")
    if int(t.min()) < 0 or int(t.max()) >= schedule.num_train_timesteps:
        raise ValueError(
            f"Timesteps must lie in [0, {schedule.num_train_timesteps}); got {t.tolist()}"
        )
    alpha_bar = schedule.alphas_cumprod.to(device=x0.device, dtype=x0.dtype)[t.to(x0.device)]
    shape = (-1,) + (1,) * (x0.dim() - 1)
    return alpha_bar.sqrt().reshape(shape) * x0 + (1 - alpha_bar).sqrt().reshape(shape) * eps
