"""Flux.1's tokens: 2x2 latent patches packed into tokens and their (axis, row, column)
positions, exactly as diffusers' FluxPipeline ``_pack_latents`` / ``_unpack_latents`` /
``_prepare_latent_image_ids``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def pack(x: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] (h, w even) -> [B, h/2 * w/2, C * 4] tokens (FluxPipeline._pack_latents)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The inverse of ``pack`` for an [h, w] latent (FluxPipeline._unpack_latents)."""
    b, _, dim = tokens.shape
    x = tokens.view(b, h // 2, w // 2, dim // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, dim // 4, h, w)


def image_ids(h: int, w: int, device: Any) -> torch.Tensor:
    """[h/2 * w/2, 3] positions (0, row, column) of the packed tokens."""
    import torch

    ids = torch.zeros(h // 2, w // 2, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(h // 2)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(w // 2)[None, :]
    return ids.reshape(-1, 3).to(device)
