"""Measure how well a demo model follows prompts, with a pixel rule-based classifier.

The classifier reads a 64x64 image: background = commonest palette colour on the border,
shape colour = commonest other palette colour, shape kind = from the largest blob of
shape-coloured pixels (triangles are bottom-heavy, squares fill their bounding box, circles
fill ~79% of it). It needs no learned model, so it can judge any generator.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import dataset
from .components import DEFAULT_CFG, DEFAULT_STEPS

_NAMES = list(dataset.PALETTE)
_RGB = np.array([dataset.PALETTE[n] for n in _NAMES], dtype=np.float32)


@dataclass(frozen=True)
class Reading:
    """What the classifier sees in one image (None where it sees nothing)."""

    shape: str | None
    colour: str | None
    background: str


def _nearest(pixels: np.ndarray) -> np.ndarray:
    return ((pixels[:, None, :] - _RGB[None]) ** 2).sum(-1).argmin(-1)


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean mask."""
    seen = np.zeros_like(mask)
    best: list[tuple[int, int]] = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        blob, queue = [], deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            blob.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if len(blob) > len(best):
            best = blob
    out = np.zeros_like(mask)
    if best:
        ys, xs = zip(*best, strict=True)
        out[list(ys), list(xs)] = True
    return out


def shape_of(mask: np.ndarray) -> str | None:
    """circle / square / triangle from a blob mask, or None if there is no blob."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 12:
        return None
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    fill = len(ys) / ((bottom - top + 1) * (right - left + 1))
    middle = (top + bottom) / 2
    upper, lower = (ys < middle).sum(), (ys > middle).sum()
    if upper < 0.6 * lower:  # an upright triangle holds ~1/4 of its area above the middle
        return "triangle"
    return "square" if fill > 0.89 else "circle"


def classify(image: Image.Image | np.ndarray) -> Reading:
    """Read background colour, shape colour and shape kind from an RGB image."""
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    pixels = pixels.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    background = Counter(_nearest(border).tolist()).most_common(1)[0][0]
    labels = _nearest(pixels.reshape(-1, 3)).reshape(pixels.shape[:2])
    others = Counter(labels[labels != background].tolist())
    if not others:
        return Reading(None, None, _NAMES[background])
    colour = others.most_common(1)[0][0]
    bg_rgb = np.median(border[_nearest(border) == background], axis=0)
    fg_rgb = np.median(pixels[labels == colour], axis=0)
    # Project every pixel on the background->shape colour line; past half way is "shape".
    direction = fg_rgb - bg_rgb
    t = ((pixels - bg_rgb) @ direction) / max(float(direction @ direction), 1e-6)
    shape = shape_of(_largest_blob(t > 0.5))
    return Reading(shape, _NAMES[colour], _NAMES[background])


def load_pipeline(model_dir: str | Path, device: str = "cpu") -> Any:
    """The saved folder as a plain diffusers StableDiffusionPipeline (Euler, offline)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        str(model_dir), local_files_only=True, safety_checker=None,
        requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def generate(pipe: Any, prompts: Sequence[str], seeds: Sequence[int], cfg: float = DEFAULT_CFG,
             steps: int = DEFAULT_STEPS, batch_size: int = 32) -> list[Image.Image]:
    """One 64x64 image per (prompt, seed), batched."""
    images: list[Image.Image] = []
    for start in range(0, len(prompts), batch_size):
        chunk = slice(start, start + batch_size)
        generators = [torch.Generator().manual_seed(s) for s in seeds[chunk]]
        result = pipe(list(prompts[chunk]), generator=generators, guidance_scale=cfg,
                      num_inference_steps=steps, height=dataset.IMAGE_SIZE,
                      width=dataset.IMAGE_SIZE)
        images += result.images
    return images


def evaluation_prompts(n_seen: int, n_held_out: int, seed: int = 0
                       ) -> list[tuple[str, dataset.ShapeSpec, int, str]]:
    """(prompt, spec, image seed, split) tuples; held-out combos are cycled through."""
    rng = random.Random(seed)
    items = []
    for split, combos, n in (("seen", dataset.TRAIN_COMBOS, n_seen),
                             ("held-out", dataset.HELD_OUT_COMBOS, n_held_out)):
        for i in range(n):
            shape, colour, background = combos[i % len(combos)] if split == "held-out" \
                else combos[rng.randrange(len(combos))]
            spec = dataset.ShapeSpec(shape, colour, background, rng.choice(dataset.SIZES),
                                     rng.choice(dataset.POSITIONS))
            items.append((dataset.make_caption(spec, rng), spec, 1000 + i, split))
    return items


def score(readings: Sequence[Reading], specs: Sequence[dataset.ShapeSpec]) -> dict[str, float]:
    """Fractions of correct colour, background and shape (and all three at once)."""
    n = max(1, len(specs))
    hits = {"colour": 0, "background": 0, "shape": 0, "all": 0}
    for reading, spec in zip(readings, specs, strict=True):
        ok = (reading.colour == spec.colour, reading.background == spec.background,
              reading.shape == spec.shape)
        for key, good in zip(("colour", "background", "shape"), ok, strict=True):
            hits[key] += good
        hits["all"] += all(ok)
    return {k: v / n for k, v in hits.items()}


def evaluate_model(model_dir: str | Path, n_seen: int = 120, n_held_out: int = 60,
                   cfgs: Sequence[float] = (1.0, DEFAULT_CFG), steps: int = DEFAULT_STEPS,
                   device: str = "cpu") -> tuple[dict[float, dict[str, dict[str, float]]],
                                                 dict[float, list[Image.Image]], list[str]]:
    """Accuracy per cfg and split; also the images per cfg and their prompts."""
    pipe = load_pipeline(model_dir, device)
    items = evaluation_prompts(n_seen, n_held_out)
    prompts = [p for p, _, _, _ in items]
    results: dict[float, dict[str, dict[str, float]]] = {}
    images_by_cfg: dict[float, list[Image.Image]] = {}
    for cfg in cfgs:
        images = generate(pipe, prompts, [s for _, _, s, _ in items], cfg=cfg, steps=steps)
        images_by_cfg[cfg] = images
        readings = [classify(im) for im in images]
        results[cfg] = {}
        for split in ("seen", "held-out"):
            chosen = [i for i, item in enumerate(items) if item[3] == split]
            results[cfg][split] = score([readings[i] for i in chosen],
                                        [items[i][1] for i in chosen])
    return results, images_by_cfg, prompts


def format_table(results: dict[float, dict[str, dict[str, float]]]) -> str:
    """Rows seen / held-out; per cfg the colour, background, shape and all-correct accuracy."""
    keys = ("colour", "background", "shape", "all")
    head = f"{'split':<10}" + "".join(f" | cfg {cfg:<4g}: " + " ".join(f"{k[:6]:>6}" for k in keys)
                                      for cfg in results)
    lines = [head, "-" * len(head)]
    splits = next(iter(results.values())).keys()
    for split in splits:
        row = f"{split:<10}"
        for cfg in results:
            row += f" | cfg {cfg:<4g}: " + " ".join(f"{results[cfg][split][k]:>6.1%}"
                                                   for k in keys)
        lines.append(row)
    return "\n".join(lines)
