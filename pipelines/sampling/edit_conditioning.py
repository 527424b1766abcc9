"""Conditioning for models that see the image they edit: ComfyUI's InpaintModelConditioning
(inpainting UNets: the masked image and the mask every step) and InstructPixToPixConditioning
(InstructPix2Pix: the image latent every step), with ComfyUI's arithmetic on the pixels.

Both crop the image (centred) to whole VAE cells first. Inpainting maps onto our inpainting
path (``pipelines.sampling.inpaint``): the latent carries the masked-image latents and the mask
as "VAE Encode (for Inpainting)" makes them, so the Sampler is the same.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from pipelines.families.ip2p import CONCAT_KEY, IMAGE_CFG_KEY
from pipelines.values import Conditioning, Latent, Vae


def _factor(vae: Vae) -> int:
    return 2 ** (len(vae.vae.config.block_out_channels) - 1)


def _crop(image: torch.Tensor, factor: int) -> tuple[slice, slice]:
    """ComfyUI's centred crop of [B, H, W, C] to multiples of ``factor``: (rows, columns).

    Raises:
        ValueError: an image smaller than one cell, or not [B, H, W, 3].
    """
    if image.dim() != 4 or image.shape[-1] != 3:
        raise ValueError(f"Expected an image batch [B, H, W, 3], got {tuple(image.shape)}")
    height, width = image.shape[1] // factor * factor, image.shape[2] // factor * factor
    if height == 0 or width == 0:
        raise ValueError(f"The image ({image.shape[2]}x{image.shape[1]}) is smaller than the "
                         f"VAE's {factor}-pixel cell")
    top, left = (image.shape[1] % factor) // 2, (image.shape[2] % factor) // 2
    return slice(top, top + height), slice(left, left + width)


def inpaint_model_conditioning(vae: Vae, image: torch.Tensor, mask: torch.Tensor,
                               noise_mask: bool = True) -> Latent:
    """InpaintModelConditioning's latent: the image encoded, its masked copy encoded for
    inpainting models, and the mask.

    Args:
        vae: The VAE.
        image: [B, H, W, 3] in 0..1.
        mask: 1 = repaint; [H, W], [B, H, W] or [B, 1, H, W] at any size (resized bilinearly
            to the image, as ComfyUI does; rounded where the pixels are greyed).
        noise_mask: Also keep the unmasked area (the mask blends every step); False repaints
            everything, inpainting models still seeing the mask.

    Returns:
        ``Latent`` with the encoded image, ``masked_image_latents`` (masked area mid-grey) and
        the mask as ``noise_mask`` (or, without it, as ``inpaint_mask``).

    Raises:
        ValueError: a malformed image, or mask and image batches that do not fit.
    """
    from pipelines.sampling.vae import encode

    rows, cols = _crop(image, _factor(vae))
    mask = mask.float()
    mask = F.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])),
                         size=(image.shape[1], image.shape[2]), mode="bilinear")
    mask = mask[:, :, rows, cols]
    pixels = image[:, rows, cols].float().clone()
    if mask.shape[0] not in (1, pixels.shape[0]):
        raise ValueError(f"The mask has batch {mask.shape[0]} but the image has batch "
                         f"{pixels.shape[0]}; give one mask or one per image")
    keep = (1.0 - mask.round()).squeeze(1)
    if keep.shape[0] > pixels.shape[0]:
        pixels = pixels.expand(keep.shape[0], -1, -1, -1).clone()
    for channel in range(3):  # ComfyUI's order of operations, channel by channel
        pixels[:, :, :, channel] -= 0.5
        pixels[:, :, :, channel] *= keep
        pixels[:, :, :, channel] += 0.5
    masked = encode(vae, pixels).samples
    original = encode(vae, image[:, rows, cols].float()).samples
    return Latent(samples=original, noise_mask=mask if noise_mask else None,
                  masked_image_latents=masked, inpaint_mask=None if noise_mask else mask)


def instruct_pix2pix_conditioning(
    vae: Vae, image: torch.Tensor, positive: Conditioning, negative: Conditioning,
    image_cfg: float = 1.0,
) -> tuple[Conditioning, Conditioning, Latent]:
    """InstructPixToPixConditioning: both conditionings carry the image's VAE latent
    (unscaled, as the UNet takes it); the latent to sample is zeros of its size.

    Args:
        image_cfg: diffusers' ``image_guidance_scale``; 1 is ComfyUI's plain CFG (see
            ``pipelines.families.ip2p``).

    Raises:
        ValueError: a malformed image.
    """
    from pipelines.sampling.vae import encode

    rows, cols = _crop(image, _factor(vae))
    raw = encode(vae, image[:, rows, cols].float(), scaled=False).samples
    extra = {CONCAT_KEY: raw}
    if image_cfg != 1.0:
        extra[IMAGE_CFG_KEY] = torch.tensor(float(image_cfg))
    positive = replace(positive, extras={**positive.extras, **extra})
    negative = replace(negative, extras={**negative.extras, CONCAT_KEY: raw})
    return positive, negative, Latent(samples=torch.zeros_like(raw))
