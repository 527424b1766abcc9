"""Noise masks in the denoise loop: the mask resized to the latent, and the unmasked area's
latents at every step (the original noised to the next timestep)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def prepare_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Resize a noise mask ([h,w], [B,h,w] or [B,1,h,w], any size) to [B or 1, 1, h, w]."""
    mask = mask.to(device=like.device, dtype=torch.float32)
    while mask.dim() < 4:
        mask = mask.unsqueeze(0 if mask.dim() < 3 else 1)
    if mask.shape[-2:] != like.shape[-2:]:
        mask = F.interpolate(mask, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return mask[:, :1].clamp(0, 1)


def kept_latents(scheduler: Any, original: torch.Tensor, initial: torch.Tensor,
                  timesteps: torch.Tensor, begin: int) -> list[torch.Tensor]:
    """The unmasked area of a noise-masked latent after each step but the last: ``original``
    noised to the next timestep, computed before the loop (``scheduler.add_noise`` moves the
    schedule to the device and looks timesteps up on the host, a stream sync every step).

    Inside the loop diffusers' schedulers with a begin index take the noise level of
    ``add_noise`` from their step index (``begin + i + 1`` after step ``i``), so that state is
    set for each call and cleared after, as the loop expects it.
    """
    stateful = getattr(scheduler, "begin_index", None) is not None and hasattr(
        scheduler, "_step_index")
    kept = []
    try:
        for i in range(len(timesteps) - 1):
            if stateful:
                scheduler._step_index = begin + i + 1
            t = timesteps[i + 1 : i + 2]
            if hasattr(scheduler, "add_noise"):
                kept.append(scheduler.add_noise(original, initial, t))
            else:  # flow matching (SD3's inpaint pipeline): scale_noise(sample, t, noise)
                kept.append(scheduler.scale_noise(original, t, initial))
    finally:
        if stateful:
            scheduler._step_index = None
    return kept


def differential_masks(mask: torch.Tensor, timesteps: torch.Tensor, strength: float
                       ) -> list[torch.Tensor]:
    """Differential Diffusion (ComfyUI's DifferentialDiffusion, after Levin & Fried 2024): a
    soft noise mask turned into one mask per step. At a step whose model call is at timestep
    ``t``, the area whose mask value is at least ``t / t_first`` follows the model, so
    strongly masked parts change from the first step and weakly masked ones only in the last
    steps. ``strength`` in (0, 1) blends that with the soft mask, as ComfyUI's node does
    (0 and 1: the thresholded mask alone)."""
    steps = timesteps.detach().to(dtype=torch.float32).tolist()  # one read, not one a step
    first = steps[0] if steps and steps[0] > 0 else 1.0
    masks = []
    for t in steps:
        binary = (mask >= t / first).to(mask.dtype)
        masks.append(strength * binary + (1 - strength) * mask if 0 < strength < 1 else binary)
    return masks
