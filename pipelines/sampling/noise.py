"""Seeded Gaussian noise drawn on the CPU, number-for-number like diffusers' ``randn_tensor``."""

from __future__ import annotations

from typing import Any

import torch

NOISE_MODES: tuple[str, ...] = ("batch", "per_image")
SEED_MASK = 0xFFFF_FFFF_FFFF_FFFF


def randn(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator],
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Same numbers as ``diffusers.utils.torch_utils.randn_tensor`` with CPU generator(s).

    Args:
        shape: Tensor shape, batch first.
        generator: One generator for the whole tensor, or one per batch item.
        dtype: Floating point dtype of the result.

    Returns:
        A CPU tensor of ``shape``.
    """
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"Got {len(generator)} generators for a batch of {shape[0]}")
        one = (1, *shape[1:])
        return torch.cat([torch.randn(one, generator=g, dtype=dtype) for g in generator], dim=0)
    return torch.randn(shape, generator=generator, dtype=dtype)


def batch_randn(shape: tuple[int, ...], generator: torch.Generator | list[torch.Generator],
                batch_index: tuple[int, ...] | None) -> torch.Tensor:
    """``randn``, or with ``batch_index`` (one generator) ComfyUI's ``prepare_noise``: one
    image's noise drawn after another up to the highest index, each image taking its own."""
    if batch_index is None or isinstance(generator, list):
        return randn(shape, generator)
    if len(batch_index) != shape[0]:
        raise ValueError(f"Got {len(batch_index)} batch indices for a batch of {shape[0]}")
    one = (1, *shape[1:])
    drawn = [torch.randn(one, generator=generator) for _ in range(max(batch_index) + 1)]
    return torch.cat([drawn[i] for i in batch_index], dim=0)


def step_generators(seed: int, mode: str, delta: int, batch_size: int, drawn: Any) -> Any:
    """The generator(s) a stochastic sampler draws its per-step noise from (``Noise``'s
    ``seed``, ``mode`` and ``step_seed_delta``).

    Args:
        batch_size: Number of images in the batch.
        drawn: The generator(s) that drew the initial noise.

    Returns:
        ``drawn`` (its stream continues, as diffusers does) when ``delta`` is 0; otherwise
        fresh CPU generator(s) seeded ``seed + delta`` (per image ``seed + i + delta``), as
        A1111 reseeds its generators after the first draw when ENSD is set.
    """
    if not delta:
        return drawn
    if mode == "batch":
        return torch.Generator("cpu").manual_seed((seed + delta) & SEED_MASK)
    return [torch.Generator("cpu").manual_seed((seed + delta + i) & SEED_MASK)
            for i in range(batch_size)]
