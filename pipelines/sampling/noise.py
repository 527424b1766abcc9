"""Seeded Gaussian noise drawn on the CPU, number-for-number like diffusers' ``randn_tensor``."""

from __future__ import annotations

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
