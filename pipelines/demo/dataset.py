"""Procedural captioned shapes: the training data of the built-in demo model.

Every image is 64x64 RGB with one shape (circle, square, triangle) of one colour on a plain
background of another colour. Images are rendered in batches with torch (a signed-distance ramp
anti-aliases the edges) and captions name the shape, its colour and the background colour,
optionally its size and position. A fixed ~10% of the shape/colour/background combinations is
held out of training so evaluation can tell memorisation from composition.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

IMAGE_SIZE = 64
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 70, 220),
    "yellow": (245, 220, 40),
    "purple": (140, 50, 180),
    "orange": (245, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
SHAPE_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "white")
BACKGROUNDS: tuple[str, ...] = tuple(PALETTE)
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("centre", "top left", "top right", "bottom left", "bottom right")

Combo = tuple[str, str, str]  # (shape, colour, background)

ALL_COMBOS: tuple[Combo, ...] = tuple(
    (s, c, b) for s in SHAPES for c in SHAPE_COLOURS for b in BACKGROUNDS if b != c
)


def _choose_held_out(fraction: float = 0.1, seed: int = 1234) -> tuple[Combo, ...]:
    """Pick held-out combos deterministically, so that every (shape, colour), (shape,
    background) and (colour, background) pair stays in training."""
    rng = random.Random(seed)
    order = list(ALL_COMBOS)
    rng.shuffle(order)
    target = round(fraction * len(ALL_COMBOS))
    held: list[Combo] = []
    pairs_left: dict[tuple[int, str, str], int] = {}
    for s, c, b in ALL_COMBOS:
        for key in ((0, s, c), (1, s, b), (2, c, b)):
            pairs_left[key] = pairs_left.get(key, 0) + 1
    for s, c, b in order:
        keys = ((0, s, c), (1, s, b), (2, c, b))
        if len(held) < target and all(pairs_left[k] > 1 for k in keys):
            held.append((s, c, b))
            for k in keys:
                pairs_left[k] -= 1
    return tuple(sorted(held))


HELD_OUT_COMBOS: tuple[Combo, ...] = _choose_held_out()
TRAIN_COMBOS: tuple[Combo, ...] = tuple(c for c in ALL_COMBOS if c not in set(HELD_OUT_COMBOS))


@dataclass(frozen=True)
class ShapeSpec:
    """The content of one image."""

    shape: str
    colour: str
    background: str
    size: str = "large"
    position: str = "centre"

    @property
    def combo(self) -> Combo:
        return (self.shape, self.colour, self.background)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def make_caption(spec: ShapeSpec, rng: random.Random) -> str:
    """A plain-English caption; shape, colour and background always, size/position maybe."""
    size = spec.size if rng.random() < 0.5 else ""
    where = f" in the {spec.position}" if rng.random() < 0.5 else ""
    noun = f"{size} {spec.colour} {spec.shape}".strip()
    bg = spec.background
    template = rng.randrange(5)
    if template == 0:
        return f"{_article(noun)} {noun}{where} on {_article(bg)} {bg} background"
    if template == 1:
        return f"{_article(noun)} {noun}{where} on {bg}"
    if template == 2:
        return f"{noun}{where}, {bg} background"
    if template == 3:
        return f"{bg} background with {_article(noun)} {noun}{where}"
    return f"{noun} on {bg}{where}"


def random_spec(rng: random.Random, combos: tuple[Combo, ...] = TRAIN_COMBOS) -> ShapeSpec:
    """Draw a random image description from ``combos``."""
    shape, colour, background = combos[rng.randrange(len(combos))]
    return ShapeSpec(shape, colour, background, rng.choice(SIZES), rng.choice(POSITIONS))


def render(specs: list[ShapeSpec], generator: torch.Generator | None = None,
           size: int = IMAGE_SIZE) -> torch.Tensor:
    """Render specs to a float tensor (N, 3, size, size) in [0, 1].

    Size and position get a small random jitter from ``generator``. The geometry is laid out
    on the 64px canvas and sampled at ``size`` (the same generator state draws the same picture
    at 64 and 128 px: the super-resolution stage's ground truth), the edge ramp one output
    pixel wide.
    """
    n = len(specs)
    large = torch.tensor([s.size == "large" for s in specs])
    half = torch.where(large, 13.0, 7.0) + 3.0 * torch.rand(n, generator=generator)
    margin = 3.0 + 2.0 * torch.rand(n, 2, generator=generator)
    centre = torch.empty(n, 2)
    for i, spec in enumerate(specs):
        for axis, (low_word, high_word) in enumerate((("left", "right"), ("top", "bottom"))):
            if low_word in spec.position:
                centre[i, axis] = margin[i, axis] + half[i]
            elif high_word in spec.position:
                centre[i, axis] = IMAGE_SIZE - margin[i, axis] - half[i]
            else:
                centre[i, axis] = IMAGE_SIZE / 2
    centre += (torch.rand(n, 2, generator=generator) - 0.5) * 2.0
    step = IMAGE_SIZE / size
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) * step
    dx = coords.view(1, 1, -1) - centre[:, 0].view(n, 1, 1)
    dy = coords.view(1, -1, 1) - centre[:, 1].view(n, 1, 1)
    h = half.view(n, 1, 1)
    # Signed distance to the outline (negative inside); a 1-pixel ramp anti-aliases edges.
    circle = (dx**2 + dy**2).sqrt() - h
    square = torch.maximum(dx.abs(), dy.abs()) - h
    triangle = torch.maximum(dy - h, (dx.abs() - (dy + h) / 2) / 1.118)
    kind = torch.tensor([SHAPES.index(s.shape) for s in specs]).view(n, 1, 1)
    distance = torch.where(kind == 0, circle, torch.where(kind == 1, square, triangle))
    alpha = (0.5 - distance / step).clamp(0.0, 1.0).unsqueeze(1)
    fg = torch.tensor([PALETTE[s.colour] for s in specs], dtype=torch.float32) / 255.0
    bg = torch.tensor([PALETTE[s.background] for s in specs], dtype=torch.float32) / 255.0
    return alpha * fg.view(n, 3, 1, 1) + (1 - alpha) * bg.view(n, 3, 1, 1)


def sample_batch(
    batch_size: int,
    rng: random.Random,
    generator: torch.Generator | None = None,
    combos: tuple[Combo, ...] = TRAIN_COMBOS,
) -> tuple[torch.Tensor, list[str], list[ShapeSpec]]:
    """A training batch: images in [-1, 1], captions and the specs they came from."""
    specs = [random_spec(rng, combos) for _ in range(batch_size)]
    captions = [make_caption(s, rng) for s in specs]
    return render(specs, generator) * 2.0 - 1.0, captions, specs


def caption_vocabulary() -> list[str]:
    """Every word that a caption can contain (punctuation included)."""
    words = {"a", "an", "on", "in", "the", "background", "with", ","}
    words.update(SHAPES, PALETTE, SIZES)
    for position in POSITIONS:
        words.update(position.split())
    return sorted(words)
