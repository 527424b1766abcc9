"""How well does the demo super-resolution stage upsample? PSNR and SSIM against the known
128px ground truth of held-out shapes (combinations never seen in training, drawn with a seed
training never used), next to Lanczos, bicubic and bilinear resizes of the same 64px input.
``edge PSNR`` counts only the pixels near an outline (within 2 px), where resizing blurs."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import dataset
from .superres import BASE, DEFAULT_NOISE_LEVEL, DEFAULT_SAMPLING_STEPS, SR_SIZE, render_pair

EVAL_SEED = 987_654  # never a training seed (training renders with seed * 100003 + step)


@dataclass(frozen=True)
class Scores:
    method: str
    psnr: float
    ssim: float
    edge_psnr: float
    seconds: float


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean over images of PSNR (dB) of [N, 3, H, W] images in 0..1 (``mask``: [N, 1, H, W])."""
    error = (a - b).pow(2)
    if mask is None:
        mse = error.mean(dim=(1, 2, 3))
    else:
        weight = mask.expand_as(error)
        mse = (error * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp(min=1)
    return float((10 * torch.log10(1 / mse.clamp(min=1e-10))).mean())


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, per channel) of
    [N, 3, H, W] images in 0..1."""
    coords = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-coords**2 / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).contiguous()

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=3)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
             / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(value.mean())


def edge_mask(image: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """[N, 1, H, W]: 1 within ``radius`` pixels of a colour change in ``image``."""
    step_x = (image[..., :, 1:] - image[..., :, :-1]).abs().amax(1, keepdim=True) > 0.02
    step_y = (image[..., 1:, :] - image[..., :-1, :]).abs().amax(1, keepdim=True) > 0.02
    edges = F.pad(step_x.float(), (0, 1)) + F.pad(step_y.float(), (0, 0, 0, 1))
    return (F.max_pool2d(edges, 2 * radius + 1, 1, radius) > 0).float()


def resize(low: torch.Tensor, method: str) -> torch.Tensor:
    """[N, 3, 64, 64] in 0..1 to 128px with PIL (8-bit, as a user's image editor does)."""
    from PIL import Image

    filters = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
               "bilinear": Image.Resampling.BILINEAR}
    out = []
    for image in low:
        pixels = (image * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
        big = Image.fromarray(pixels).resize((SR_SIZE, SR_SIZE), filters[method])
        out.append(torch.from_numpy(np.array(big)).float().permute(2, 0, 1) / 255)
    return torch.stack(out)


def held_out_pairs(count: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``count`` (64px, 128px) pairs in 0..1 of held-out combos, and their captions."""
    rng = random.Random(EVAL_SEED)
    low, high, specs = render_pair(count, rng, EVAL_SEED, dataset.HELD_OUT_COMBOS)
    return (low + 1) / 2, (high + 1) / 2, [dataset.make_caption(s, rng) for s in specs]


def super_resolve_batch(model_dir: str | Path, low: torch.Tensor, captions: Sequence[str],
                        base: str | Path = BASE, steps: int = DEFAULT_SAMPLING_STEPS,
                        noise_level: int = DEFAULT_NOISE_LEVEL, cfg: float = 1.0,
                        seed: int = 0) -> torch.Tensor:
    """The stage's 128px images [N, 3, 128, 128] in 0..1 through the studio's own loader,
    demo text encoding and ``super_resolve`` (what the Super-Resolution Sampler runs)."""
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.superres import pixels_to_image, super_resolve
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Noise

    model, _, _ = load_checkpoint(model_dir)
    _, clip, _ = load_checkpoint(base)
    negative = encode_text(clip, "")
    out = []
    for i, caption in enumerate(captions):
        image = low[i : i + 1].permute(0, 2, 3, 1)
        latent = super_resolve(model, encode_text(clip, caption), negative, image,
                               Noise(seed + i), scale=2.0, noise_level=noise_level,
                               sampler="ddim", steps=steps, cfg=cfg)
        out.append(pixels_to_image(latent).permute(0, 3, 1, 2))
    return torch.cat(out)


def score(method: str, result: torch.Tensor, truth: torch.Tensor, seconds: float) -> Scores:
    return Scores(method, psnr(result, truth), ssim(result, truth),
                  psnr(result, truth, edge_mask(truth)), seconds)


def format_scores(rows: Sequence[Scores], count: int) -> str:
    lines = [f"{count} held-out shapes, 64 -> 128 px, against the 128px ground truth",
             "", "| method | PSNR (dB) | SSIM | edge PSNR (dB) | seconds / image |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.method} | {row.psnr:.2f} | {row.ssim:.4f} | {row.edge_psnr:.2f} "
                     f"| {row.seconds:.3f} |")
    return "\n".join(lines)


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def evaluate(model_dir: str | Path, count: int = 48, **options: Any) -> list[Scores]:
    """Scores of the stage and of the plain resizes on ``count`` held-out images."""
    import time

    low, high, captions = held_out_pairs(count)
    rows = []
    started = time.time()
    ours = super_resolve_batch(model_dir, low, captions, **options)
    rows.append(score("diffusion SR (demo-sr)", ours, high, (time.time() - started) / count))
    for method in ("lanczos", "bicubic", "bilinear"):
        started = time.time()
        result = resize(low, method)
        rows.append(score(method, result, high, (time.time() - started) / count))
    return rows
