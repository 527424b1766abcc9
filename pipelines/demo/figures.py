"""PIL-only figures for the demo model: a loss plot and a captioned image grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def _smooth(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def save_loss_plot(curves: dict[str, Sequence[float]], path: str | Path,
                   size: tuple[int, int] = (720, 420)) -> Path:
    """Plot each named loss curve (smoothed, log10 y axis) against its step into a PNG."""
    width, height = size
    left, right, top, bottom = 70, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    series = {k: _smooth(list(v), max(1, len(v) // 50)) for k, v in curves.items() if len(v)}
    values = [math.log10(max(v, 1e-8)) for s in series.values() for v in s]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-6:
        hi = lo + 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for i in range(5):
        y_value = lo + (hi - lo) * i / 4
        y = top + plot_h * (1 - i / 4)
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((4, y - 6), f"{10 ** y_value:.3g}", fill="black", font=font)
    draw.text((left, height - bottom + 12), "step (each curve spans its own phase)",
              fill="black", font=font)
    for index, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[index % len(_COLOURS)]
        points = [
            (left + plot_w * i / max(1, len(ys) - 1),
             top + plot_h * (1 - (math.log10(max(v, 1e-8)) - lo) / (hi - lo)))
            for i, v in enumerate(ys)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((left + 10 + 170 * index, 10), f"{name}: {ys[-1]:.4f}", fill=colour, font=font)
    path = Path(path)
    image.save(path)
    return path


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if len(candidate) > width and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines


def save_captioned_grid(images: Sequence[Image.Image], captions: Sequence[str],
                        path: str | Path, columns: int = 4, scale: int = 2) -> Path:
    """Tile images (upscaled ``scale`` x, nearest) with their caption underneath into a PNG."""
    font = ImageFont.load_default()
    cell = images[0].width * scale
    chars = max(8, cell // 6)
    text_h = 12 * max(len(_wrap(c, chars)) for c in captions) + 6
    rows = math.ceil(len(images) / columns)
    grid = Image.new("RGB", (columns * (cell + 8) + 8, rows * (cell + text_h + 8) + 8), "white")
    draw = ImageDraw.Draw(grid)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x = 8 + (i % columns) * (cell + 8)
        y = 8 + (i // columns) * (cell + text_h + 8)
        grid.paste(image.convert("RGB").resize((cell, cell), Image.NEAREST), (x, y))
        for j, line in enumerate(_wrap(caption, chars)):
            draw.text((x, y + cell + 3 + 12 * j), line, fill="black", font=font)
    path = Path(path)
    grid.save(path)
    return path
