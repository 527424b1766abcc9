"""Step previews: a cheap linear latent -> RGB map, and a full VAE decode for the last image."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from pipelines.families import get_family


def default_factors(
    family: str, channels: int = 4
) -> tuple[list[list[float]] | None, list[float] | None]:
    """The latent -> RGB table of a family's latent format (``ModelFamily.latent``).

    Args:
        family: Model family ("sd1", "sd2", "sdxl", ...).
        channels: Latent channels of the model; a table only applies when they match.

    Returns:
        ``(factors, bias)``, or ``(None, None)`` when there is no table.
    """
    latent = get_family(family).latent
    if latent.rgb_factors is None or len(latent.rgb_factors) != channels:
        return None, None
    bias = None if latent.rgb_bias is None else list(latent.rgb_bias)
    return [list(row) for row in latent.rgb_factors], bias


def latent_to_rgb(
    latent: torch.Tensor,
    factors: list[list[float]] | None = None,
    bias: list[float] | None = None,
    family: str = "sd1",
) -> np.ndarray:
    """Linear preview of one latent: ``rgb = latent^T @ factors + bias``, mapped from [-1, 1].

    Without ``factors`` the family table is used; families without one get the first three
    channels, each min-max normalised (shape only, colours are arbitrary).

    Args:
        latent: [C, h, w] or [B, C, h, w] (the first image is shown), any device.
        factors: C x 3 matrix, e.g. ``DiffusionModel.latent_rgb_factors``.
        bias: 3 offsets added after the matrix product.
        family: Picks the built-in table when ``factors`` is None.

    Returns:
        uint8 array [h, w, 3].
    """
    x = latent.detach()
    if x.dim() == 4:
        x = x[0]
    x = x.float()
    if factors is None:
        factors, bias = default_factors(family, x.shape[0])
    if factors is None:
        return _normalised_channels(x)
    matrix = torch.tensor(factors, dtype=torch.float32, device=x.device)
    if matrix.shape != (x.shape[0], 3):
        raise ValueError(f"latent_rgb_factors is {tuple(matrix.shape)}, expected ({x.shape[0]}, 3)")
    rgb = torch.einsum("chw,cr->hwr", x, matrix)
    if bias is not None:
        rgb = rgb + torch.tensor(bias, dtype=torch.float32, device=x.device)
    rgb = ((rgb + 1.0) * 127.5).clamp_(0, 255).round_()
    return rgb.to(device="cpu", dtype=torch.uint8).numpy()


PREVIEW_RATE = 12.0  # previews a second at most: more is not seen, and each one costs a copy


class PreviewThrottle:
    """Decides at which steps a preview is made: at most ``rate`` a second, and always the
    last step (so the final state is what stays on screen).

    Args:
        rate: Previews a second at most.
        clock: Seconds, monotonic (a test passes its own).
    """

    def __init__(self, rate: float = PREVIEW_RATE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = 1.0 / rate, clock
        self.last: float | None = None

    def due(self, index: int, total: int) -> bool:
        """Whether step ``index`` (0-based) of ``total`` gets a preview; counts it as shown."""
        now = self.clock()
        if index < total - 1 and self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True


class PreviewRenderer:
    """Cheap previews for one run: the latent -> RGB table becomes a tensor once, on the first
    latent's device, and on CUDA the small uint8 picture is copied without blocking into pinned
    memory and handed out at the next preview (by then long finished), so sampling never waits
    for it; the last step is waited for and shown at once.

    Args:
        factors, bias, family: As ``latent_to_rgb``.
    """

    def __init__(self, factors: list[list[float]] | None, bias: list[float] | None,
                 family: str) -> None:
        self.factors, self.bias, self.family = factors, bias, family
        self.tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.pending: tuple[Any, torch.Tensor] | None = None

    def _table(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        if x.device not in self.tables:
            factors, bias = self.factors, self.bias
            if factors is None:
                factors, bias = default_factors(self.family, x.shape[0])
            if factors is None:
                return None
            matrix = torch.tensor(factors, dtype=torch.float32).to(x.device)
            if matrix.shape != (x.shape[0], 3):
                raise ValueError(f"latent_rgb_factors is {tuple(matrix.shape)}, "
                                 f"expected ({x.shape[0]}, 3)")
            offset = None if bias is None else torch.tensor(bias, dtype=torch.float32).to(x.device)
            self.tables[x.device] = (matrix, offset)
        return self.tables[x.device]

    def __call__(self, latent: torch.Tensor, final: bool = False) -> np.ndarray | None:
        """The preview of ``latent`` ([C, h, w] or [B, C, h, w]) as uint8 [h, w, 3]; on CUDA an
        earlier preview that is ready (or None) unless ``final``."""
        x = latent.detach()
        x = (x[0] if x.dim() == 4 else x).float()
        table = self._table(x)
        if table is None:
            return _normalised_channels(x)
        matrix, offset = table
        rgb = torch.einsum("chw,cr->hwr", x, matrix)
        if offset is not None:
            rgb = rgb + offset
        rgb = ((rgb + 1.0) * 127.5).clamp_(0, 255).round_().to(torch.uint8)
        if rgb.device.type != "cuda":
            return rgb.cpu().numpy()
        host = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
        host.copy_(rgb, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        ready = None
        if self.pending is not None and self.pending[0].query():
            ready = self.pending[1].numpy()
        self.pending = (done, host)
        if final:
            done.synchronize()
            return host.numpy()
        return ready


def _normalised_channels(x: torch.Tensor) -> np.ndarray:
    channels = x[:3]
    if channels.shape[0] < 3:
        channels = channels[torch.arange(3, device=x.device) % channels.shape[0]]
    low = channels.amin(dim=(1, 2), keepdim=True)
    span = (channels.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-6)
    rgb = ((channels - low) / span * 255.0).round_().permute(1, 2, 0)
    return rgb.to(device="cpu", dtype=torch.uint8).numpy()


def decode_preview(vae: Any, latent: Any) -> np.ndarray:
    """Full-quality preview of the first image of a latent through the VAE (slow, exact).

    Args:
        vae: A ``pipelines.values.Vae``.
        latent: A ``Latent`` or a tensor [C, h, w] / [B, C, h, w] in the scaled space.

    Returns:
        uint8 array [H, W, 3].
    """
    from pipelines.sampling.vae import decode
    from pipelines.values import Latent

    samples = latent.samples if isinstance(latent, Latent) else latent
    if samples.dim() == 3:
        samples = samples.unsqueeze(0)
    image = decode(vae, Latent(samples=samples[:1]))[0]
    return (image * 255.0).round_().to(torch.uint8).numpy()
