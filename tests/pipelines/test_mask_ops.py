"""Mask operations equal ComfyUI's nodes_mask.py results: GrowMask against scipy's grey
dilation/erosion (what ComfyUI calls), the others against ComfyUI's formulas on random masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines import mask_ops

scipy_ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture
def mask() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    m = (torch.rand(2, 12, 10, generator=g) > 0.7).float()
    m[1] *= torch.rand(12, 10, generator=g)  # a soft one
    return m


@pytest.mark.parametrize("expand", [1, 3, -1, -2])
@pytest.mark.parametrize("tapered", [True, False])
def test_grow_equals_scipy_grey_morphology(mask, expand, tapered):
    c = 0 if tapered else 1
    kernel = np.array([[c, 1, c], [1, 1, 1], [c, 1, c]])
    expected = []
    for m in mask.numpy():
        out = m
        for _ in range(abs(expand)):
            op = scipy_ndimage.grey_erosion if expand < 0 else scipy_ndimage.grey_dilation
            out = op(out, footprint=kernel)
        expected.append(torch.from_numpy(out))
    assert torch.equal(mask_ops.grow(mask, expand, tapered), torch.stack(expected))


def test_composite_operations_and_clamping(mask):
    source = torch.full((1, 5, 20), 0.6)
    for operation, fn in (("multiply", torch.mul), ("add", torch.add), ("subtract", torch.sub)):
        out = mask_ops.composite(mask, source, 3, 8, operation)
        expected = mask.clone()
        expected[:, 8:12, 3:10] = fn(mask[:, 8:12, 3:10], 0.6)
        assert torch.equal(out, expected.clamp(0, 1)), operation
    xor = mask_ops.composite(mask, source, 0, 0, "xor")
    assert torch.equal(xor[:, :5], (mask[:, :5] > 0).logical_xor(torch.tensor(True)).float())
    assert torch.equal(mask_ops.composite(mask, source, 50, 50, "add"), mask)  # off the edge


def test_feather_follows_comfyui_indexing(mask):
    ones = torch.ones(1, 6, 8)
    out = mask_ops.feather(ones, 2, 0, 3, 0)
    row = out[0, 0].tolist()
    # left fade: columns 0, 1 at 1/2, 2/2; right fade: -0 (= column 0), -1, -2 at 1/3, 2/3, 1
    assert row[0] == pytest.approx(0.5 / 3) and row[1] == 1.0
    assert row[-1] == pytest.approx(2 / 3) and row[-2] == 1.0
    assert torch.equal(mask_ops.feather(mask, 0, 0, 0, 0), mask)


def test_the_small_ones(mask):
    image = torch.rand(2, 12, 10, 3)
    assert torch.equal(mask_ops.from_image(image, "green"), image[..., 1])
    assert torch.equal(mask_ops.from_image(image, "alpha"), torch.ones(2, 12, 10))
    assert torch.equal(mask_ops.to_image(mask)[..., 2], mask)
    assert torch.equal(mask_ops.invert(mask), 1 - mask)
    assert torch.equal(mask_ops.threshold(mask, 0.5), (mask > 0.5).float())
    assert torch.equal(mask_ops.crop(mask, 2, 3, 4, 100), mask[:, 3:, 2:6])
    assert mask_ops.solid(0.25, 7, 5).shape == (1, 5, 7)
    before = mask.clone()
    mask_ops.grow(mask, 2, True), mask_ops.feather(mask, 1, 1, 1, 1)
    assert torch.equal(mask, before)  # inputs unchanged
