"""Inpainting inputs: the masked image for inpainting UNets and their extra input channels.

An inpainting UNet (SD1/SD2/SDXL "-inpainting", ``in_channels = 2 * latent_channels + 1``)
sees ``cat([noisy latent, mask, masked-image latent])`` at every step, as in diffusers'
StableDiffusionInpaintPipeline: the mask is resized to the latent with nearest-neighbour
interpolation (as the pipeline and the original LDM training code do) and the masked image is
the picture with the repainted area set to 0 in the VAE's -1..1 input (mid-grey).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pipelines.values import DiffusionModel, Latent, Vae

ENCODE_NODE = "VAE Encode (for Inpainting)"


def _mask_4d(mask: torch.Tensor) -> torch.Tensor:
    """[h, w], [B, h, w] or [B, 1, h, w] -> float [B, 1, h, w]."""
    mask = mask.float()
    while mask.dim() < 4:
        mask = mask.unsqueeze(0 if mask.dim() < 3 else 1)
    return mask[:, :1]


def grow_mask(mask: torch.Tensor, grow: int) -> torch.Tensor:
    """Dilate a binary mask [B, 1, H, W] with a ``grow`` x ``grow`` window (ComfyUI's
    ``grow_mask_by``: the even window reaches one pixel further right/down than left/up).

    Args:
        mask: Binary mask, 1 = repaint.
        grow: Window size in pixels; 0 or 1 leaves the mask unchanged.

    Returns:
        The grown mask, same shape.
    """
    if grow <= 1:
        return mask
    padding = math.ceil((grow - 1) / 2)
    grown = F.max_pool2d(mask, grow, stride=1, padding=padding)
    return grown[..., : mask.shape[-2], : mask.shape[-1]]


def encode_for_inpainting(vae: Vae, image: torch.Tensor, mask: torch.Tensor, grow: int = 6
                          ) -> Latent:
    """Encode an image for inpainting, with any model.

    Args:
        vae: The VAE.
        image: Images [B, H, W, 3] in 0..1; cropped (centred) to a multiple of the VAE factor.
        mask: 1 = repaint, 0 = keep; [H, W], [B, H, W] or [B, 1, H, W] at any size (resized
            bilinearly to the image, then made binary at 0.5).
        grow: Grow the noise mask by this many pixels (``grow_mask``) so seams blend; the
            masked image uses the mask as given, as ComfyUI's node does.

    Returns:
        ``Latent`` with ``samples`` = the encoded image (so denoise < 1 keeps its content),
        ``noise_mask`` = the grown binary mask [B, H, W], ``masked_image_latents`` = the
        encoded masked image.

    Raises:
        ValueError: The image is not [B, H, W, 3], or mask and image batches do not match.
    """
    from pipelines.sampling.vae import encode

    if image.dim() != 4 or image.shape[-1] != 3:
        raise ValueError(f"Expected an image batch [B, H, W, 3], got {tuple(image.shape)}")
    factor = 2 ** (len(vae.vae.config.block_out_channels) - 1)
    height, width = image.shape[1] // factor * factor, image.shape[2] // factor * factor
    if height == 0 or width == 0:
        raise ValueError(f"The image ({image.shape[2]}x{image.shape[1]}) is smaller than the "
                         f"VAE's {factor}-pixel cell")
    mask = _mask_4d(mask)
    if mask.shape[-2:] != image.shape[1:3]:
        mask = F.interpolate(mask, size=image.shape[1:3], mode="bilinear", align_corners=False)
    top, left = (image.shape[1] - height) // 2, (image.shape[2] - width) // 2
    image = image[:, top : top + height, left : left + width].float()
    mask = mask[..., top : top + height, left : left + width]
    if mask.shape[0] not in (1, image.shape[0]) and image.shape[0] != 1:
        raise ValueError(f"The mask has batch {mask.shape[0]} but the image has batch "
                         f"{image.shape[0]}; give one mask or one per image")
    batch = max(mask.shape[0], image.shape[0])
    image = image.expand(batch, -1, -1, -1)
    binary = (mask >= 0.5).float().expand(batch, -1, -1, -1)  # diffusers binarizes at 0.5
    keep = (1.0 - binary).permute(0, 2, 3, 1)
    masked = image * keep + 0.5 * (1.0 - keep)  # 0.5 here is 0 in the VAE's -1..1 input
    original = encode(vae, image).samples
    masked_latents = encode(vae, masked).samples
    return Latent(samples=original, noise_mask=grow_mask(binary, grow)[:, 0].contiguous(),
                  masked_image_latents=masked_latents)


def inpaint_channels(model: DiffusionModel, latent: Latent, like: torch.Tensor, cfg: bool
                     ) -> torch.Tensor | None:
    """The extra UNet input channels ``[mask, masked-image latent]`` of an inpainting model.

    Args:
        model: The diffusion model.
        latent: The sampler's input latent (its ``noise_mask`` and ``masked_image_latents``).
        like: The latent being denoised [B, C, h, w] (size, device).
        cfg: Whether the UNet runs on [uncond, cond]: the channels are then doubled.

    Returns:
        [B (x2 with cfg), 1 + C, h, w] float32 on ``like``'s device; None for a model whose UNet
        takes the latent alone.

    Raises:
        ValueError: An inpainting model without the mask or masked image, a batch mismatch,
            or a UNet whose input channels are neither C nor 2C + 1.
    """
    from pipelines.families import ModelFamily, get_family

    family = get_family(model.family)
    in_channels = family.denoiser_in_channels(model)
    if in_channels == model.latent_channels:
        return None
    own_layout = type(family).inpaint_channels is not ModelFamily.inpaint_channels
    if not (model.inpainting or own_layout):
        raise ValueError(
            f"The model's UNet takes {in_channels} input channels; only {model.latent_channels} "
            f"(ordinary) or {2 * model.latent_channels + 1} (inpainting) are supported"
        )
    channel_mask = latent.noise_mask if latent.inpaint_mask is None else latent.inpaint_mask
    if channel_mask is None or latent.masked_image_latents is None:
        raise ValueError(
            "This is an inpainting model: it needs a mask and the masked image. Encode the "
            f"image with '{ENCODE_NODE}' (image + mask) and feed that latent to the sampler"
        )
    batch, size = like.shape[0], like.shape[-2:]
    mask = _mask_4d(channel_mask).to(like.device)
    masked = latent.masked_image_latents.to(device=like.device, dtype=torch.float32)
    if masked.shape[-2:] != size:  # e.g. after a latent upscale
        masked = F.interpolate(masked, size=size, mode="bilinear", align_corners=False)
    parts = []
    for tensor, what in ((mask, "inpainting mask"), (masked, "masked image latent")):
        if tensor.shape[0] not in (1, batch):
            raise ValueError(f"The {what} has batch {tensor.shape[0]} but the latent has "
                             f"batch {batch}")
        parts.append(tensor.expand(batch, -1, -1, -1))
    extra = family.inpaint_channels(model, parts[0], parts[1])
    if extra is None:
        if parts[0].shape[-2:] != size:  # nearest, as the pipeline and the training did
            parts[0] = F.interpolate(parts[0], size=size)
        extra = torch.cat(parts, dim=1)
    return torch.cat([extra] * 2) if cfg else extra
