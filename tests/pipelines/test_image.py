"""Image/latent helpers: PIL round trips and resizing."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from pipelines.image import from_pil, to_pil, upscale_image, upscale_latent
from pipelines.values import Latent


@pytest.fixture()
def image():
    # 8-bit exact values so a PIL round trip is lossless.
    return torch.randint(0, 256, (2, 10, 14, 3), generator=torch.Generator().manual_seed(0)) / 255.0


def test_pil_round_trip_is_exact(image):
    pil = to_pil(image)
    assert len(pil) == 2 and all(isinstance(p, Image.Image) for p in pil)
    assert pil[0].size == (14, 10) and pil[0].mode == "RGB"
    back = from_pil(pil)
    assert back.dtype == torch.float32 and torch.equal(back, image.float())
    assert from_pil(pil[1]).shape == (1, 10, 14, 3)
    with pytest.raises(ValueError):
        from_pil([pil[0], pil[0].resize((3, 3))])


@pytest.mark.parametrize("method", ["lanczos", "bicubic", "bilinear", "nearest"])
def test_upscale_sizes(image, method):
    assert upscale_image(image, method, factor=2).shape == (2, 20, 28, 3)
    assert upscale_image(image, method, width=28, height=15).shape == (2, 15, 28, 3)
    assert upscale_image(image, method, width=7).shape == (2, 5, 7, 3)  # keeps aspect ratio
    out = upscale_image(image, method, factor=1.5)
    assert out.shape == (2, 15, 21, 3) and 0 <= out.min() and out.max() <= 1


def test_nearest_replicates_and_lanczos_interpolates(image):
    nearest = upscale_image(image, "nearest", factor=2)
    assert torch.equal(nearest[:, ::2, ::2], image.float())
    assert torch.equal(nearest[:, 1::2, 1::2], image.float())
    lanczos = upscale_image(image, "lanczos", factor=2)
    assert (lanczos - nearest).abs().max() > 0.05


def test_upscale_errors(image):
    with pytest.raises(ValueError, match="lanczos"):
        upscale_image(image, "magic", factor=2)
    with pytest.raises(ValueError):
        upscale_image(image, "bilinear")
    with pytest.raises(ValueError):
        upscale_image(image, "bilinear", factor=0)


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "bicubic"])
def test_upscale_latent_in_latent_cells(method):
    mask = torch.ones(1, 16, 16)
    latent = Latent(torch.randn(1, 4, 8, 6), noise_mask=mask)
    assert upscale_latent(latent, method, factor=1.5).samples.shape == (1, 4, 12, 9)
    out = upscale_latent(latent, method, width=12, height=10)
    assert out.samples.shape == (1, 4, 10, 12)
    assert out.noise_mask is mask


def test_upscale_latent_nearest_replicates():
    samples = torch.randn(1, 4, 3, 3)
    out = upscale_latent(Latent(samples), "nearest-exact", factor=2).samples
    assert torch.equal(out[..., ::2, ::2], samples)
    with pytest.raises(ValueError, match="nearest-exact"):
        upscale_latent(Latent(samples), "lanczos", factor=2)
