"""The Brownian-tree noise of ``dpmpp_sde``, seeded from our noise seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from pipelines.values import Noise


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
