"""The demo's super-resolution stage: its training pairs, its folder (trained for a step or two
here) loading as a pixel-space ``demo_sr`` stage that ``super_resolve`` runs, the benchmark's
metrics, and the shipped stage beating Lanczos on held-out shapes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pipelines.demo import dataset
from pipelines.demo.sr_eval import edge_mask, held_out_pairs, psnr, resize, ssim
from pipelines.demo.superres import SR_SIZE, render_pair

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo-sr"


def test_pairs_draw_one_picture_at_both_sizes():
    low, high, specs = render_pair(6, random.Random(0), 5)
    assert low.shape == (6, 3, 64, 64) and high.shape == (6, 3, SR_SIZE, SR_SIZE)
    # the 128px picture averaged down is the 64px one up to the anti-aliasing ramp
    diff = (F.avg_pool2d(high, 2) - low).abs()
    assert diff.mean() < 0.01 and (diff > 0.5).float().mean() < 0.002
    # 64px rendering is unchanged by the size option
    again = dataset.render(specs, torch.Generator().manual_seed(5), size=64) * 2 - 1
    assert torch.equal(again, low)


def test_metrics_and_resizes():
    low, high, captions = held_out_pairs(3)
    assert len(captions) == 3 and high.min() >= 0 and high.max() <= 1
    assert psnr(high, high) > 90 and ssim(high, high) == pytest.approx(1.0)
    lanczos = resize(low, "lanczos")
    assert lanczos.shape == high.shape
    assert 15 < psnr(lanczos, high) < 60 and 0 < ssim(lanczos, high) < 1
    mask = edge_mask(high)
    assert 0 < mask.mean() < 0.5
    assert psnr(lanczos, high, mask) < psnr(lanczos, high)  # resizing errs at edges


def test_a_trained_folder_loads_as_a_pixel_stage_and_upsamples(tmp_path):
    from pipelines.demo.train import main
    from pipelines.families import get_family
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.superres import pixels_to_image, super_resolve
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Noise

    out = tmp_path / "demo-sr"
    assert main(["--stage", "superres", "--out", str(out), "--steps", "2", "--batch-size", "2",
                 "--crop", "16", "--threads", "1"]) == 0
    model, clip, vae = load_checkpoint(out)
    assert model.family == "demo_sr" and vae is None and clip.text_encoder is None
    assert get_family(model.family).latent.pixels
    assert "image_noising_scheduler" in model.schedulers
    _, demo_clip, _ = load_checkpoint(Path(__file__).resolve().parents[2] / "resources"
                                      / "models" / "demo")
    low, _, captions = held_out_pairs(1)
    latent = super_resolve(model, encode_text(demo_clip, captions[0]), encode_text(demo_clip, ""),
                           low.permute(0, 2, 3, 1), Noise(0), scale=2.0, noise_level=50,
                           sampler="ddim", steps=2, cfg=1.0)
    assert pixels_to_image(latent).shape == (1, SR_SIZE, SR_SIZE, 3)


def test_a_residual_stage_adds_the_resized_input_back(tmp_path):
    """The demo stage predicts the difference from the bicubic-resized input: a UNet whose
    output layer is zeroed returns that resize exactly (flat regions come out exact), with the
    last DDIM step giving the prediction itself (no leftover noise)."""
    from pipelines.demo.train import main
    from pipelines.families.demo_sr import DEMO_SR_CONDITION
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.superres import pixels_to_image, resize_for_stage, super_resolve
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Noise

    out = tmp_path / "demo-sr"
    assert main(["--stage", "superres", "--out", str(out), "--steps", "1", "--batch-size", "1",
                 "--crop", "16", "--threads", "1"]) == 0
    model, _, _ = load_checkpoint(out)
    with torch.no_grad():
        model.denoiser.conv_out.weight.zero_()
        model.denoiser.conv_out.bias.zero_()
    _, clip, _ = load_checkpoint(Path(__file__).resolve().parents[2] / "resources" / "models"
                                 / "demo")
    low, _, captions = held_out_pairs(1)
    text = encode_text(clip, captions[0])
    for noise_level in (0, 100):  # the added input is the clean one, not the augmented one
        latent = super_resolve(model, text, None, low.permute(0, 2, 3, 1), Noise(3), scale=2.0,
                               noise_level=noise_level, sampler="ddim", steps=3, cfg=1.0)
        expected = resize_for_stage(low * 2 - 1, (SR_SIZE, SR_SIZE), DEMO_SR_CONDITION)
        assert torch.allclose(latent.samples, expected, atol=1e-6)
    assert pixels_to_image(latent).shape == (1, SR_SIZE, SR_SIZE, 3)
    # bicubic with pixel centres: a flat picture stays flat to the border
    flat = torch.full((1, 3, 8, 8), 0.25)
    assert torch.equal(resize_for_stage(flat, (16, 16), DEMO_SR_CONDITION), torch.full(
        (1, 3, 16, 16), 0.25))


def test_the_shipped_stage_beats_lanczos_on_held_out_shapes():
    from pipelines.demo.sr_eval import super_resolve_batch

    low, high, captions = held_out_pairs(4)
    ours = super_resolve_batch(SHIPPED, low, captions)
    lanczos = resize(low, "lanczos")
    assert psnr(ours, high) > psnr(lanczos, high)
    assert ssim(ours, high) > ssim(lanczos, high)
    edges = edge_mask(high)  # sharper outlines, not only exact backgrounds
    assert psnr(ours, high, edges) > psnr(lanczos, high, edges)
