"""VAE encode/decode: shapes, value ranges, scaling and shift factors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pipelines.sampling.vae import decode, encode
from pipelines.values import Latent


@pytest.fixture()
def image():
    return torch.rand(2, 16, 24, 3, generator=torch.Generator().manual_seed(0))


def test_encode_shape_and_scaling(tiny, image):
    _, _, vae = tiny
    latent = encode(vae, image)
    assert latent.samples.shape == (2, 4, 8, 12) and latent.samples.dtype == torch.float32
    with torch.no_grad():
        pixels = image.permute(0, 3, 1, 2) * 2 - 1
        mode = vae.vae.encode(pixels).latent_dist.mode()
    assert torch.allclose(latent.samples, mode * vae.scaling_factor, atol=1e-6)
    assert latent.noise_mask is None


def test_decode_shape_range_and_unscaling(tiny):
    _, _, vae = tiny
    samples = torch.randn(2, 4, 8, 12, generator=torch.Generator().manual_seed(1)) * 3
    image = decode(vae, Latent(samples))
    assert image.shape == (2, 16, 24, 3) and image.dtype == torch.float32
    assert image.device.type == "cpu"
    assert 0.0 <= image.min().item() and image.max().item() <= 1.0
    with torch.no_grad():
        pixels = vae.vae.decode(samples / vae.scaling_factor).sample
    assert torch.allclose(image, (pixels / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1), atol=1e-6)


def test_shift_factor_is_undone_by_decode(tiny, image):
    _, _, vae = tiny
    shifted = dataclasses.replace(vae, shift_factor=0.3)
    plain, moved = encode(vae, image), encode(shifted, image)
    assert torch.allclose(moved.samples, plain.samples - 0.3 * vae.scaling_factor, atol=1e-5)
    assert torch.allclose(decode(shifted, moved), decode(vae, plain), atol=1e-5)


def test_encode_rejects_channels_first(tiny):
    _, _, vae = tiny
    with pytest.raises(ValueError, match="B, H, W, 3"):
        encode(vae, torch.rand(1, 3, 16, 16))
