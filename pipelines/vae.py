"""VAE encode/decode between images [B, H, W, 3] in 0..1 and scaled latents."""

from __future__ import annotations

import torch

from pipelines.types import Latent, Vae


def _device_dtype(vae: Vae) -> tuple[torch.device, torch.dtype]:
    parameter = next(vae.vae.parameters())
    return parameter.device, parameter.dtype


def decode(vae: Vae, latent: Latent) -> torch.Tensor:
    """Decode scaled latents to images (unscale: ``z / scaling_factor + shift_factor``).

    Args:
        vae: The VAE.
        latent: Latents [B, C, h, w] in the scaled space.

    Returns:
        float32 CPU images [B, H, W, 3] in 0..1.
    """
    device, dtype = _device_dtype(vae)
    z = latent.samples.to(device=device, dtype=torch.float32) / vae.scaling_factor
    if vae.shift_factor is not None:
        z = z + vae.shift_factor
    with torch.no_grad():
        pixels = vae.vae.decode(z.to(dtype), return_dict=False)[0]
    image = (pixels.float() / 2 + 0.5).clamp(0, 1)
    return image.permute(0, 2, 3, 1).contiguous().cpu()


def encode(vae: Vae, image: torch.Tensor) -> Latent:
    """Encode images to scaled latents (mode of the posterior; ``(z - shift) * scaling_factor``).

    Args:
        vae: The VAE.
        image: float images [B, H, W, 3] in 0..1 (H and W multiples of the VAE scale factor).

    Returns:
        A ``Latent`` with float32 CPU samples [B, C, H / f, W / f].

    Raises:
        ValueError: The image is not [B, H, W, 3].
    """
    if image.dim() != 4 or image.shape[-1] != 3:
        raise ValueError(f"Expected an image batch [B, H, W, 3], got {tuple(image.shape)}")
    device, dtype = _device_dtype(vae)
    pixels = image.to(device=device, dtype=torch.float32).permute(0, 3, 1, 2) * 2.0 - 1.0
    with torch.no_grad():
        z = vae.vae.encode(pixels.to(dtype), return_dict=False)[0].mode().float()
    if vae.shift_factor is not None:
        z = z - vae.shift_factor
    return Latent(samples=(z * vae.scaling_factor).cpu())
