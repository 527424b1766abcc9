"""Seeded noise: reproducible, CPU-generated, diffusers-compatible, per-image reproducible."""

from __future__ import annotations

import pytest
import torch

from pipelines.values import Noise

SHAPE = (3, 4, 8, 8)


def test_same_seed_same_noise_on_the_cpu():
    a, b = Noise(123).sample(SHAPE), Noise(123).sample(SHAPE)
    assert a.device.type == "cpu" and a.dtype == torch.float32 and a.shape == SHAPE
    assert torch.equal(a, b)
    assert not torch.equal(a, Noise(124).sample(SHAPE))


def test_generator_is_a_seeded_cpu_generator():
    g = Noise(9).generator()
    assert g.device.type == "cpu" and g.initial_seed() == 9
    assert Noise(9).generator() is not g  # fresh each time, so runs never share state


def test_batch_mode_equals_diffusers_randn_tensor():
    from diffusers.utils.torch_utils import randn_tensor

    expected = randn_tensor(SHAPE, generator=torch.Generator("cpu").manual_seed(42))
    assert torch.equal(Noise(42).sample(SHAPE), expected)


def test_per_image_mode_reproduces_any_image_alone():
    batch = Noise(500, mode="per_image").sample(SHAPE)
    for i in range(SHAPE[0]):
        alone = Noise(500 + i, mode="per_image").sample((1, *SHAPE[1:]))
        assert torch.equal(batch[i : i + 1], alone)
    # Batch mode draws one stream, so only its first image matches.
    batch_mode = Noise(500).sample(SHAPE)
    assert torch.equal(batch_mode[0], batch[0])
    assert not torch.equal(batch_mode[1], batch[1])


def test_dtype_and_bad_mode():
    assert Noise(1).sample(SHAPE, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="per_image"):
        Noise(1, mode="sideways")


def test_huge_seeds_are_accepted():
    big = 2**64 - 1
    assert Noise(big, mode="per_image").sample((2, 1, 2, 2)).shape == (2, 1, 2, 2)
