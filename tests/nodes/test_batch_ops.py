"""The small ComfyUI core operations (pipelines.batch_ops) against results worked out by hand
from ComfyUI's nodes.py: batch picks and repeats, rotations, flips, crops, blends, image
batches, blank images and mask channels."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from pipelines import batch_ops
from pipelines.values import Latent


def _latent(batch: int, rows: int, cols: int) -> Latent:
    cells = batch * 2 * rows * cols
    return Latent(torch.arange(cells, dtype=torch.float32).reshape(batch, 2, rows, cols))


def test_from_batch_cuts_samples_and_per_image_masks():
    latent = _latent(3, 2, 2)
    masks = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])  # 2 masks, batch 3
    picked = batch_ops.from_batch(Latent(latent.samples, noise_mask=masks), 1, 5)
    assert torch.equal(picked.samples, latent.samples[1:3])  # length cut to the batch
    # masks repeated to the batch first ([m0, m1, m0]), then cut the same way
    assert torch.equal(picked.noise_mask, torch.stack([masks[1], masks[0]]))
    last = batch_ops.from_batch(latent, 7, 1)  # index past the end: the last image
    assert torch.equal(last.samples, latent.samples[2:3])
    assert picked.batch_index == (1, 2) and last.batch_index == (2,)
    again = batch_ops.from_batch(picked, 1, 1)  # places of places
    assert again.batch_index == (2,)
    shared = torch.rand(4, 4)
    assert batch_ops.from_batch(Latent(latent.samples, noise_mask=shared), 0, 1
                                ).noise_mask is shared  # one mask for all: kept


def test_repeat_batch_repeats_samples_and_per_image_masks():
    latent = _latent(2, 2, 2)
    masks = torch.rand(2, 1, 4, 4)
    out = batch_ops.repeat_batch(Latent(latent.samples, noise_mask=masks), 3)
    a, b = latent.samples
    assert torch.equal(out.samples, torch.stack([a, b, a, b, a, b]))
    assert torch.equal(out.noise_mask, torch.cat([masks, masks, masks]))
    assert out.batch_index is None
    placed = batch_ops.repeat_batch(Latent(latent.samples, batch_index=(3, 5)), 2)
    assert placed.batch_index == (3, 5, 6, 8)  # ComfyUI: copies offset by the span (3)


def test_noise_follows_the_batch_places_as_comfyuis_prepare_noise():
    from pipelines.sampling.noise import batch_randn

    generator = torch.Generator().manual_seed(7)  # ComfyUI: one image's draw after another
    drawn = [torch.randn((1, 2, 3, 3), generator=generator) for _ in range(4)]
    picked = batch_randn((3, 2, 3, 3), torch.Generator().manual_seed(7), (3, 1, 1))
    assert torch.equal(picked, torch.cat([drawn[3], drawn[1], drawn[1]]))
    # for latent-sized images (a multiple of 16 numbers) that is the whole batch's noise
    whole = torch.randn((4, 4, 8, 8), generator=torch.Generator().manual_seed(7))
    picked = batch_randn((2, 4, 8, 8), torch.Generator().manual_seed(7), (2, 3))
    assert torch.equal(picked, whole[2:4])
    plain = batch_randn((2, 4, 8, 8), torch.Generator().manual_seed(7), None)
    assert torch.equal(plain, whole[:2])


def test_rotations_turn_clockwise():
    grid = torch.tensor([[0.0, 1, 2], [3, 4, 5]])[None, None]
    rotated = {r: batch_ops.rotate(Latent(grid), r).samples[0, 0].tolist()
               for r in ("none", "90 degrees", "180 degrees", "270 degrees")}
    assert rotated == {"none": [[0, 1, 2], [3, 4, 5]], "90 degrees": [[3, 0], [4, 1], [5, 2]],
                       "180 degrees": [[5, 4, 3], [2, 1, 0]],
                       "270 degrees": [[2, 5], [1, 4], [0, 3]]}
    with pytest.raises(ValueError, match="45"):
        batch_ops.rotate(Latent(grid), "45")


def test_flips_mirror_rows_or_columns():
    grid = torch.tensor([[0.0, 1, 2], [3, 4, 5]])[None, None]
    extra = grid + 10
    vertical = batch_ops.flip(Latent(grid, masked_image_latents=extra), "x-axis: vertically")
    assert vertical.samples[0, 0].tolist() == [[3, 4, 5], [0, 1, 2]]
    assert vertical.masked_image_latents[0, 0].tolist() == [[13, 14, 15], [10, 11, 12]]
    horizontal = batch_ops.flip(Latent(grid), "y-axis: horizontally")
    assert horizontal.samples[0, 0].tolist() == [[2, 1, 0], [5, 4, 3]]


def test_crop_counts_in_cells_of_8_and_keeps_8_cells_from_the_edges():
    latent = _latent(1, 16, 16)
    out = batch_ops.crop(latent, 64, 96, 8, 16)  # 8 x 12 cells from cell (1, 2)
    assert torch.equal(out.samples, latent.samples[:, :, 2:14, 1:9])
    far = batch_ops.crop(latent, 512, 512, 4096, 4096)  # corner kept 8 cells in
    assert torch.equal(far.samples, latent.samples[:, :, 8:, 8:])


def test_blend_weights_the_first_and_fits_the_second():
    first, second = torch.rand(1, 4, 4, 4), torch.rand(1, 4, 4, 4)
    out = batch_ops.blend(Latent(first, noise_mask=torch.ones(4, 4)), Latent(second), 0.25)
    assert torch.allclose(out.samples, first * 0.25 + second * 0.75)
    assert out.noise_mask is not None  # the first's fields are kept
    wide = torch.rand(1, 4, 4, 8)  # aspect 2: the middle 4 columns, same size (no resample)
    out = batch_ops.blend(Latent(first), Latent(wide), 0.5)
    assert torch.allclose(out.samples, first * 0.5 + wide[..., 2:6] * 0.5)


def test_image_batch_fits_the_second_image():
    one, two = torch.rand(1, 4, 4, 3), torch.rand(2, 8, 4, 3)  # tall: the middle rows
    out = batch_ops.image_batch(one, two)
    assert out.shape == (3, 4, 4, 3)
    assert torch.equal(out[0], one[0]) and torch.allclose(out[1:], two[:, 2:6])


def test_empty_image_fills_the_color():
    image = batch_ops.empty_image(3, 2, 2, 0xFF8000)
    assert image.shape == (2, 2, 3, 3)
    assert torch.allclose(image[1, 1, 2], torch.tensor([1.0, 128 / 255, 0.0]))


def test_mask_channels_of_a_picture():
    rgba = Image.new("RGBA", (3, 2), (51, 102, 153, 255))
    rgba.putpixel((0, 0), (255, 0, 0, 0))
    red = batch_ops.channel_mask(rgba, "red")
    assert red.shape == (1, 2, 3)
    assert red[0, 0, 0] == 1.0 and red[0, 1, 1] == pytest.approx(0.2)
    alpha = batch_ops.channel_mask(rgba, "alpha")  # 1 = transparent
    assert alpha[0, 0, 0] == 1.0 and alpha[0, 1, 1] == 0.0
    opaque = batch_ops.channel_mask(Image.new("RGB", (3, 2), (0, 0, 255)), "blue")
    assert torch.equal(opaque, torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match="luma"):
        batch_ops.channel_mask(rgba, "luma")


def test_a_blank_latent_keeps_its_new_size_for_the_sampler():
    from nodes._latents import EmptyLatent, empty, fit_to_model
    from nodes.latent_batch import blend_latents, crop_latent, rotate_latent

    class Model:  # the geometry fit_to_model reads: a tiny model's (factor 2)
        vae_scale_factor, latent_channels = 2, 4

    blank = empty(256, 128, 1)  # 32 x 16 cells of 8 pixels
    turned = rotate_latent(None, blank, "90 degrees")
    assert (turned.pixel_width, turned.pixel_height) == (128, 256)
    assert fit_to_model(turned, Model()).samples.shape == (1, 4, 128, 64)
    cut = crop_latent(None, blank, 64, 96, 0, 0)
    assert fit_to_model(cut, Model()).samples.shape == (1, 4, 48, 32)
    mixed = blend_latents(None, blank, Latent(torch.ones(1, 4, 16, 32)), 0.5)
    assert not isinstance(mixed, EmptyLatent)  # not blank any more: the sampler keeps it
    assert torch.equal(mixed.samples, torch.full((1, 4, 16, 32), 0.5))
