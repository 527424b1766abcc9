"""Latent helpers shared by latent and sampling nodes (torch imported lazily)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from node_api.errors import NodeInputError
from pipelines.values import Latent

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import DiffusionModel


@dataclass(eq=False)
class EmptyLatent(Latent):
    """A blank latent that remembers its pixel size, so the sampler can give it the
    latent geometry (channels, downscale factor) of whichever model it meets."""

    pixel_width: int = 0
    pixel_height: int = 0


def empty(width: int, height: int, batch_size: int, channels: int = 4, factor: int = 8) -> EmptyLatent:
    import torch

    samples = torch.zeros(batch_size, channels, height // factor, width // factor)
    return EmptyLatent(samples=samples, pixel_width=width, pixel_height=height)


def fit_to_model(latent: Latent, model: DiffusionModel) -> Latent:
    """Give an empty latent the model's latent geometry; leave real latents alone."""
    if not isinstance(latent, EmptyLatent):
        return latent
    factor, channels = model.vae_scale_factor, model.latent_channels
    b = latent.samples.shape[0]
    expected = (b, channels, latent.pixel_height // factor, latent.pixel_width // factor)
    if tuple(latent.samples.shape) == expected:
        return latent
    blank = empty(latent.pixel_width, latent.pixel_height, b, channels, factor)
    return replace(latent, samples=blank.samples)  # its masks and batch places kept


def upscale(latent: Latent, method: str, factor: float, width: int, height: int) -> Latent:
    """Resize the samples; the noise mask and the masked-image latents stay as they are
    (``denoise`` resizes both to the latent when it uses them)."""
    result = _upscale(latent, method, factor, width, height)
    return replace(result, masked_image_latents=latent.masked_image_latents)


def _upscale(latent: Latent, method: str, factor: float, width: int, height: int) -> Latent:
    from pipelines.image import upscale_latent

    if factor > 0:
        return upscale_latent(latent, method, factor=factor)
    if width == 0 and height == 0:
        raise NodeInputError("factor", "set a factor above 0, or a width and/or height")
    # width/height are in pixels; upscale_latent takes latent cells
    h, w = latent.samples.shape[-2:]
    scale = getattr(latent, "pixel_width", 0) / w if getattr(latent, "pixel_width", 0) else 8
    cells_w = round(width / scale) if width else round(w * (height / scale) / h)
    cells_h = round(height / scale) if height else round(h * (width / scale) / w)
    return upscale_latent(latent, method, width=cells_w, height=cells_h)


def with_noise_mask(latent: Latent, mask: Tensor, grow: float) -> Latent:
    """A copy of ``latent`` carrying ``mask`` (optionally dilated by ``grow`` pixels); its
    masked-image latents (for inpainting models) are kept."""
    import torch.nn.functional as F

    mask = mask.float()
    if mask.dim() == 2:
        mask = mask[None]
    if grow >= 1:
        radius = int(grow)
        mask = F.max_pool2d(mask[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
    return Latent(samples=latent.samples, noise_mask=mask.clamp(0, 1),
                  masked_image_latents=latent.masked_image_latents)
