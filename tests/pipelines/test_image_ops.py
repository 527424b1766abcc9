"""ComfyUI's image/latent operations, checked against tensors computed by hand and against
ComfyUI's own loops written out (ImagePadForOutpaint's per-pixel feathering)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipelines.image_ops import (
    composite,
    composite_masked,
    pad_for_outpaint,
    resize,
    scale_to_total_pixels,
    total_pixels_size,
)


def _comfy_pad_mask(height: int, width: int, left: int, top: int, right: int, bottom: int,
                    feathering: int) -> torch.Tensor:
    """ImagePadForOutpaint's mask as ComfyUI's nodes.py computes it, pixel by pixel."""
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    t = torch.zeros((height, width), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        for i in range(height):
            for j in range(width):
                dt = i if top != 0 else height
                db = height - i if bottom != 0 else height
                dl = j if left != 0 else width
                dr = width - j if right != 0 else width
                d = min(dt, db, dl, dr)
                if d >= feathering:
                    continue
                v = (feathering - d) / feathering
                t[i, j] = v * v
    mask[top:top + height, left:left + width] = t
    return mask


def test_pad_for_outpaint_by_hand():
    image = torch.full((1, 6, 6, 3), 0.9)
    padded, mask = pad_for_outpaint(image, 0, 2, 0, 0, 2)
    assert padded.shape == (1, 8, 6, 3) and mask.shape == (1, 8, 6)
    assert torch.equal(padded[:, :2], torch.full((1, 2, 6, 3), 0.5))
    assert torch.equal(padded[:, 2:], image)
    # the margin is 1; the picture's first row (distance 0) is 1.0, its second 0.25, then 0
    expected = torch.zeros(8, 6)
    expected[:2], expected[2], expected[3] = 1.0, 1.0, 0.25
    assert torch.equal(mask[0], expected)


@pytest.mark.parametrize(("margins", "feathering"), [
    ((8, 0, 16, 24), 5), ((0, 0, 0, 0), 3), ((4, 4, 4, 4), 40), ((16, 8, 0, 0), 0),
    ((3, 5, 7, 2), 9)])
def test_pad_for_outpaint_equals_comfyuis_loop(margins, feathering):
    image = torch.rand(2, 21, 30, 3, generator=torch.Generator().manual_seed(0))
    left, top, right, bottom = margins
    padded, mask = pad_for_outpaint(image, left, top, right, bottom, feathering)
    assert torch.equal(mask[0], _comfy_pad_mask(21, 30, left, top, right, bottom, feathering))
    assert padded.shape == (2, 21 + top + bottom, 30 + left + right, 3)


def test_latent_composite_pastes_and_cuts_at_the_edge():
    destination = torch.zeros(1, 1, 4, 4)
    source = torch.arange(9.0).reshape(1, 1, 3, 3)
    out = composite(destination, source, 16, 8, 0)  # x = 2 cells, y = 1 cell
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 1:4, 2:4] = torch.tensor([[0.0, 1], [3, 4], [6, 7]])
    assert torch.equal(out, expected)
    assert not destination.any()  # the input is left alone


def test_latent_composite_feathers_the_inner_edges():
    out = composite(torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 4, 4), 8, 8, 16)
    ring = torch.tensor([[0.25, 0.5, 0.5, 0.25], [0.5, 1, 1, 0.5], [0.5, 1, 1, 0.5],
                         [0.25, 0.5, 0.5, 0.25]])
    expected = torch.zeros(1, 1, 6, 6)
    expected[0, 0, 1:5, 1:5] = ring
    assert torch.equal(out, expected)
    # at the destination's own border there is nothing to fade into: no feather there
    corner = composite(torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 4, 4), 0, 0, 8)
    assert corner[0, 0, 0, 0] == 1.0 and corner[0, 0, 3, 3] == 1.0
    assert corner[0, 0, 0, 3] == 1.0 and corner[0, 0, 3, 0] == 1.0


def test_latent_composite_masked_by_hand():
    destination = torch.full((1, 2, 3, 3), 2.0)
    source = torch.full((1, 2, 2, 2), 4.0)
    mask = torch.tensor([[[1.0, 0.0], [0.0, 0.5]]])
    out = composite_masked(destination, source, 8, 0, mask)
    expected = torch.full((1, 2, 3, 3), 2.0)
    expected[:, :, 0:2, 1:3] = torch.tensor([[4.0, 2.0], [2.0, 3.0]])
    assert torch.equal(out, expected)
    whole = composite_masked(destination, source, 0, 0, None, resize_source=True)
    assert torch.equal(whole, torch.full((1, 2, 3, 3), 4.0))
    batch = composite_masked(torch.zeros(3, 1, 2, 2), torch.ones(2, 1, 2, 2), 0, 0)
    assert torch.equal(batch, torch.ones(3, 1, 2, 2))  # repeated to the destination's batch


def test_latent_composite_masked_mask_is_resized_bilinearly_to_the_source():
    mask = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(2))
    out = composite_masked(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), 0, 0, mask)
    assert torch.equal(out[0, 0], F.interpolate(mask[None], size=(4, 4), mode="bilinear")[0, 0])


def test_scale_to_total_pixels_sizes_and_methods():
    assert total_pixels_size(1024, 512, 1.0) == (1448, 724)
    assert total_pixels_size(1000, 600, 0.5, 64) == (960, 576)
    image = torch.rand(1, 32, 64, 3, generator=torch.Generator().manual_seed(3))
    small = scale_to_total_pixels(image, "area", 0.001)  # 1048.576 pixels of 2048
    assert small.shape == (1, 23, 46, 3)
    chw = image.movedim(-1, 1)
    assert torch.equal(small, F.interpolate(chw, size=(23, 46), mode="area").movedim(1, -1))
    lanczos = resize(chw, 46, 23, "lanczos")
    assert lanczos.shape == (1, 3, 23, 46)
    assert torch.equal(lanczos * 255, (lanczos * 255).round())  # through 8-bit pictures
    with pytest.raises(ValueError, match="Unknown method"):
        resize(chw, 4, 4, "bislerp")


def test_image_composite_masked_counts_single_pixels():
    from app.engine.registry import default_registry

    destination, source = torch.zeros(1, 4, 5, 3), torch.ones(1, 2, 2, 3)
    node = default_registry().get("image.composite_masked").func
    out = node(None, destination, source, None, 1, 2, False)
    expected = torch.zeros(1, 4, 5, 3)
    expected[:, 2:4, 1:3] = 1.0
    assert torch.equal(out, expected)
    half = node(None, destination, source, torch.full((1, 2, 2), 0.5), 4, 3, False)
    assert half[0, 3, 4].tolist() == [0.5] * 3 and half.sum() == 1.5  # cut at the edge
