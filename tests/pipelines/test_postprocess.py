"""Post-processing equals ComfyUI's nodes_post_processing.py: blur and sharpen against its
pad-convolve-crop sequence, the blend modes against their formulas, quantize against PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipelines import postprocess


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(2, 20, 16, 3, generator=torch.Generator().manual_seed(0))


def _comfy_filter(image: torch.Tensor, kernel: torch.Tensor, r: int) -> torch.Tensor:
    """ComfyUI's sequence: reflect pad r, conv2d with zero padding r, crop r."""
    weights = kernel.repeat(3, 1, 1).unsqueeze(1)
    padded = F.pad(image.permute(0, 3, 1, 2), (r, r, r, r), "reflect")
    out = F.conv2d(padded, weights, padding=r, groups=3)[:, :, r:-r, r:-r]
    return out.permute(0, 2, 3, 1)


@pytest.mark.parametrize(("radius", "sigma"), [(1, 1.0), (3, 0.5), (5, 2.0)])
def test_blur_and_sharpen_equal_comfyui(image, radius, sigma):
    kernel = postprocess.gaussian_kernel(2 * radius + 1, sigma)
    assert kernel.sum().item() == pytest.approx(1.0)
    assert torch.allclose(postprocess.blur(image, radius, sigma),
                          _comfy_filter(image, kernel, radius), atol=1e-6)
    sharp = kernel * -(0.7 * 10)
    sharp[radius, radius] = sharp[radius, radius] - sharp.sum() + 1.0
    expected = _comfy_filter(image, sharp, radius).clamp(0, 1)
    assert torch.allclose(postprocess.sharpen(image, radius, sigma, 0.7), expected, atol=1e-6)


def test_blend_modes(image):
    other = torch.rand(2, 20, 16, 3, generator=torch.Generator().manual_seed(1))
    formulas = {
        "normal": other, "multiply": image * other, "screen": 1 - (1 - image) * (1 - other),
        "difference": image - other,
        "overlay": torch.where(image <= 0.5, 2 * image * other,
                               1 - 2 * (1 - image) * (1 - other)),
    }
    for mode, mixed in formulas.items():
        expected = (image * 0.7 + mixed * 0.3).clamp(0, 1)
        assert torch.allclose(postprocess.blend(image, other, 0.3, mode), expected), mode
    soft = postprocess.blend(image, other, 1.0, "soft_light")
    assert soft.shape == image.shape and soft.min() >= 0 and soft.max() <= 1
    wide = torch.rand(2, 10, 40, 3)  # another size: fitted by center crop
    assert postprocess.blend(image, wide, 0.5, "normal").shape == image.shape


def test_quantize_is_pils_two_pass_palette(image):
    out = postprocess.quantize(image, 4, "none")
    for index, picture in enumerate(image):
        pil = Image.fromarray((picture * 255).to(torch.uint8).numpy(), mode="RGB")
        reduced = pil.quantize(colors=4, palette=pil.quantize(colors=4),
                               dither=Image.Dither.NONE)
        expected = torch.from_numpy(np.array(reduced.convert("RGB"))).float() / 255
        assert torch.equal(out[index], expected)
        assert len(torch.unique(out[index].reshape(-1, 3), dim=0)) <= 4
