"""The demo dataset: captions describe the pixels, and held-out combos stay out of training."""

from __future__ import annotations

import random

import torch
from PIL import Image

from pipelines.demo import dataset
from pipelines.demo.evaluate import classify, score


def _to_pil(image: torch.Tensor) -> Image.Image:
    pixels = ((image + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(pixels)


def test_classifier_reads_ground_truth_images_correctly() -> None:
    rng, gen = random.Random(5), torch.Generator().manual_seed(5)
    images, _, specs = dataset.sample_batch(300, rng, gen, dataset.ALL_COMBOS)
    readings = [classify(_to_pil(im)) for im in images]
    assert score(readings, specs) == {"colour": 1.0, "background": 1.0, "shape": 1.0, "all": 1.0}


def test_captions_name_shape_colour_and_background() -> None:
    rng = random.Random(1)
    images, captions, specs = dataset.sample_batch(200, rng, torch.Generator().manual_seed(1))
    assert images.shape == (200, 3, 64, 64)
    assert images.min() >= -1 and images.max() <= 1
    vocabulary = set(dataset.caption_vocabulary())
    for caption, spec in zip(captions, specs, strict=True):
        words = caption.replace(",", " , ").split()
        assert spec.shape in words and spec.colour in words and spec.background in words
        assert set(words) <= vocabulary
    assert len(set(captions)) > 150  # captions vary in wording, not just content


def test_held_out_combos_never_appear_in_training_batches() -> None:
    held = set(dataset.HELD_OUT_COMBOS)
    assert 0.08 <= len(held) / len(dataset.ALL_COMBOS) <= 0.12
    assert held.isdisjoint(dataset.TRAIN_COMBOS)
    assert held | set(dataset.TRAIN_COMBOS) == set(dataset.ALL_COMBOS)
    _, _, specs = dataset.sample_batch(3000, random.Random(0))
    seen = {s.combo for s in specs}
    assert seen.isdisjoint(held)
    assert len(seen) == len(dataset.TRAIN_COMBOS)
    # every word of a held-out combo still appears in training, just never together
    for shape, colour, background in held:
        assert any(s == shape and c == colour for s, c, _ in dataset.TRAIN_COMBOS)
        assert any(c == colour and b == background for _, c, b in dataset.TRAIN_COMBOS)


def test_rendering_is_reproducible_and_shape_sizes_differ() -> None:
    specs = [dataset.ShapeSpec("circle", "red", "blue", size) for size in ("small", "large")]
    first = dataset.render(specs, torch.Generator().manual_seed(3))
    second = dataset.render(specs, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)
    red_area = (first[:, 0] > 0.5).flatten(1).sum(1)
    assert red_area[1] > 2.5 * red_area[0]
