"""Hint images for ControlNet / T2I-Adapter / IP-Adapter, made offline from an image batch
[B, H, W, 3] in 0..1 (returned in the same form, float32 on the CPU).

Edges come from kornia (pure torch, no torchvision): its ``canny`` is the one ComfyUI's Canny
node calls, so a ComfyUI workflow imported here gives the same hint image. The soft edge map
(scribble / lineart-like) is a normalised Sobel gradient magnitude or a difference of Gaussians;
"tile" hints are the image blurred and/or down- and up-sampled, as the tile ControlNet expects.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, what PIL's convert("L") uses
SOFT_EDGE_METHODS: tuple[str, ...] = ("sobel", "dog")
RESIZE_MODES: tuple[str, ...] = ("short_side", "long_side")


def _channels_first(image: torch.Tensor) -> torch.Tensor:
    return image.detach().float().cpu().movedim(-1, 1)


def _channels_last(image: torch.Tensor) -> torch.Tensor:
    if image.shape[1] == 1:
        image = image.repeat(1, 3, 1, 1)
    return image.clamp(0, 1).movedim(1, -1).contiguous()


def grayscale(image: torch.Tensor) -> torch.Tensor:
    """Luminance in all three channels."""
    weights = torch.tensor(LUMA, dtype=torch.float32)
    luma = (image.detach().float().cpu()[..., :3] * weights).sum(-1, keepdim=True)
    return luma.repeat(1, 1, 1, 3).clamp(0, 1)


def invert(image: torch.Tensor) -> torch.Tensor:
    """1 - image (white lines on black <-> black lines on white)."""
    return (1.0 - image.detach().float().cpu()).clamp(0, 1)


def canny(image: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Canny edges (kornia, as ComfyUI's Canny node): white 1-pixel edges on black.

    Args:
        low, high: Hysteresis thresholds on the gradient magnitude (0 < low <= high < 1).

    Raises:
        ValueError: thresholds out of order or range.
    """
    if not 0 < low <= high < 1:
        raise ValueError(f"Canny thresholds need 0 < low <= high < 1, got {low:g} and {high:g}")
    from kornia.filters import canny as kornia_canny

    _, edges = kornia_canny(_channels_first(image), low, high)
    return _channels_last(edges)


def soft_edges(image: torch.Tensor, method: str = "sobel", sigma: float = 1.0,
               threshold: float = 0.0) -> torch.Tensor:
    """A soft edge map (white on black), normalised to 0..1 per image; ``threshold`` > 0 makes
    it a binary scribble (edges stronger than that fraction of the strongest).

    Args:
        method: "sobel" (gradient magnitude after a Gaussian blur of ``sigma``) or "dog"
            (difference of Gaussians of ``sigma`` and 1.6 x ``sigma``, its positive part).
    """
    from kornia.filters import gaussian_blur2d, sobel

    if method not in SOFT_EDGE_METHODS:
        raise ValueError(f"Unknown edge method {method!r}; valid: {', '.join(SOFT_EDGE_METHODS)}")
    gray = _channels_first(grayscale(image))[:, :1]

    def blur(s: float) -> torch.Tensor:
        size = 2 * max(1, round(3 * s)) + 1
        return gaussian_blur2d(gray, (size, size), (s, s))

    if method == "sobel":
        edges = sobel(blur(sigma) if sigma > 0 else gray)
    else:
        edges = (blur(max(sigma, 0.1)) - blur(1.6 * max(sigma, 0.1))).abs()
    peak = edges.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    edges = edges / peak
    if threshold > 0:
        edges = (edges > threshold).float()
    return _channels_last(edges)


def resize_to_multiple(image: torch.Tensor, resolution: int, multiple: int = 64,
                       mode: str = "short_side") -> torch.Tensor:
    """Scale so the short (or long) side is about ``resolution`` pixels, each side rounded to a
    multiple of ``multiple`` (8 for any latent model, 64 for what UNets like best); bicubic
    with antialiasing.

    Raises:
        ValueError: a size below one multiple, or an unknown mode.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {mode!r}; valid: {', '.join(RESIZE_MODES)}")
    if resolution < multiple or multiple < 1:
        raise ValueError(f"resolution {resolution} is below one multiple of {multiple}")
    height, width = image.shape[1], image.shape[2]
    side = min(height, width) if mode == "short_side" else max(height, width)
    scale = resolution / side
    new_h = max(multiple, round(height * scale / multiple) * multiple)
    new_w = max(multiple, round(width * scale / multiple) * multiple)
    pixels = _channels_first(image)
    if (new_h, new_w) == (height, width):
        return image.detach().float().cpu().clone()
    out = F.interpolate(pixels, size=(new_h, new_w), mode="bicubic", align_corners=False,
                        antialias=True)
    return _channels_last(out)


def tile_blur(image: torch.Tensor, downscale: float = 1.0, sigma: float = 0.0) -> torch.Tensor:
    """The tile ControlNet's hint: the image sampled down by ``downscale`` and back up
    (bicubic), then blurred with a Gaussian of ``sigma`` pixels (0: no blur)."""
    from kornia.filters import gaussian_blur2d

    if downscale < 1:
        raise ValueError(f"downscale must be at least 1, got {downscale:g}")
    pixels = _channels_first(image)
    height, width = pixels.shape[-2:]
    if downscale > 1:
        small = (max(1, round(height / downscale)), max(1, round(width / downscale)))
        pixels = F.interpolate(pixels, size=small, mode="bicubic", align_corners=False,
                               antialias=True)
        pixels = F.interpolate(pixels, size=(height, width), mode="bicubic", align_corners=False)
    if sigma > 0:
        size = 2 * max(1, round(3 * sigma)) + 1
        pixels = gaussian_blur2d(pixels, (size, size), (sigma, sigma))
    return _channels_last(pixels)


def normals_from_depth(depth: torch.Tensor, strength: float = 1.0,
                       background: float = 0.1) -> torch.Tensor:
    """A normal map (RGB = x, y, z in -1..1 as 0..1) from a depth image (near is white), the
    recipe of ControlNet 1.0's normal-from-MiDaS hint: 3x3 Sobel gradients of the depth (0..255)
    times ``strength`` as x and y, a constant 2 pi as z, normalised; where the depth is below
    ``background`` (0..1) the surface faces the viewer.

    Raises:
        ValueError: a strength that is not positive.
    """
    import kornia

    if strength <= 0:
        raise ValueError(f"strength must be above 0, got {strength}")
    depth = grayscale(depth)[..., :1].movedim(-1, 1)  # [B, 1, H, W] in 0..1
    grads = kornia.filters.spatial_gradient(depth * 255.0, mode="sobel", normalized=False)
    x, y = grads[:, :, 0] * strength, grads[:, :, 1] * strength
    far = depth < background
    x, y = x.masked_fill(far, 0.0), y.masked_fill(far, 0.0)
    normal = torch.cat([x, y, torch.full_like(x, 2 * torch.pi)], dim=1)
    normal = normal / normal.pow(2).sum(dim=1, keepdim=True).sqrt()
    return _channels_last(normal * 0.5 + 0.5)
