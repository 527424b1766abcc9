"""FLUX.1 Kontext's input sizes: ComfyUI's FluxKontextImageScale resizes the image to edit to
the trained size nearest its aspect ratio (diffusers' FluxKontextPipeline does the same with
``_auto_resize``)."""

from __future__ import annotations

import torch

from pipelines.batch_ops import center_resize

# The sizes FLUX.1 Kontext was trained at (ComfyUI's FluxKontextImageScale, diffusers'
# PREFERRED_KONTEXT_RESOLUTIONS), as (width, height)
KONTEXT_SIZES = ((672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
                 (880, 1184), (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832),
                 (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672))


def kontext_size(width: int, height: int) -> tuple[int, int]:
    """The Kontext size whose aspect ratio is nearest ``width / height`` (ties: the smaller
    width, as ComfyUI's ``min`` over tuples)."""
    aspect = width / height
    _, w, h = min((abs(aspect - w / h), w, h) for w, h in KONTEXT_SIZES)
    return w, h


def kontext_scale(image: torch.Tensor) -> torch.Tensor:
    """FluxKontextImageScale: [B, H, W, 3] resized (lanczos, centre crop) to a Kontext size."""
    width, height = kontext_size(image.shape[2], image.shape[1])
    return center_resize(image.movedim(-1, 1), width, height, "lanczos").movedim(1, -1)
