"""Hint images made offline: Canny gives a square's outline, soft edges / grayscale / invert /
resize / tile do what they say, and a tiny random Depth Anything folder gives a depth map."""

from __future__ import annotations

import pytest
import torch

from pipelines import hints


def _square(size: int = 64, lo: int = 16, hi: int = 48) -> torch.Tensor:
    image = torch.zeros(1, size, size, 3)
    image[:, lo:hi, lo:hi] = 1.0
    return image


def test_canny_of_a_square_is_its_outline():
    edges = hints.canny(_square(), 0.4, 0.8)
    assert edges.shape == (1, 64, 64, 3)
    assert torch.equal(edges[..., 0], edges[..., 2])  # white on black, all channels
    mask = edges[0, :, :, 0] > 0.5
    outline = torch.zeros(64, 64, dtype=torch.bool)
    outline[15:49, 15:49] = True
    outline[18:46, 18:46] = False  # a band of +-2 px around the square's border
    assert mask.sum() > 100  # nearly the whole perimeter (4 x 32)
    assert not (mask & ~outline).any()  # and nothing else
    for row in (16, 31, 47):  # every side is found
        assert mask[row, 14:19].any() and mask[row, 45:50].any()


def test_canny_thresholds_out_of_order_are_refused():
    with pytest.raises(ValueError, match="low <= high"):
        hints.canny(_square(), 0.8, 0.4)


@pytest.mark.parametrize("method", ["sobel", "dog"])
def test_soft_edges_peak_at_the_border(method):
    edges = hints.soft_edges(_square(), method, sigma=1.0)
    assert edges.max() == pytest.approx(1.0)
    assert edges[0, 32, 32, 0] < 0.05 and edges[0, 2, 2, 0] < 0.05  # flat inside and outside
    assert edges[0, 32, 14:19, 0].max() > 0.5
    scribble = hints.soft_edges(_square(), method, sigma=1.0, threshold=0.5)
    assert set(scribble.unique().tolist()) == {0.0, 1.0}


def test_grayscale_and_invert():
    image = torch.tensor([[[[1.0, 0.0, 0.0], [0.2, 0.4, 0.6]]]])
    gray = hints.grayscale(image)
    assert gray[0, 0, 0].tolist() == pytest.approx([0.299] * 3)
    assert gray[0, 0, 1, 0] == pytest.approx(0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)
    assert torch.allclose(hints.invert(image), 1 - image)


@pytest.mark.parametrize(("multiple", "side", "expected"),
                         [(64, "short_side", (512, 768)), (8, "short_side", (512, 760)),
                          (64, "long_side", (320, 512)), (8, "long_side", (344, 512))])
def test_resize_to_a_multiple(multiple, side, expected):
    image = torch.rand(1, 300, 447, 3)
    out = hints.resize_to_multiple(image, 512, multiple, side)
    assert out.shape[1:3] == expected
    assert out.shape[1] % multiple == 0 and out.shape[2] % multiple == 0


def test_tile_blur_keeps_size_and_removes_detail():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 64, 64, 3, generator=g)
    out = hints.tile_blur(image, downscale=4.0, sigma=1.0)
    assert out.shape == image.shape
    assert out.std() < 0.5 * image.std()  # noise averages out
    assert torch.allclose(hints.tile_blur(image, 1.0, 0.0), image)


def test_depth_anything_folder_gives_a_depth_map(tmp_path):
    from pipelines.loading.depth import estimate_depth, load_depth_model
    from pipelines.testing.tiny_depth import build_tiny_depth_anything

    folder = build_tiny_depth_anything(tmp_path / "depth-anything-tiny")
    image = torch.rand(2, 40, 36, 3, generator=torch.Generator().manual_seed(1))
    depth = estimate_depth(load_depth_model(folder), image)
    assert depth.shape == (2, 40, 36, 3)
    assert depth.amin() == 0 and depth.amax() == pytest.approx(1.0)
    assert (depth[0] - depth[1]).abs().max() > 0.01  # the picture matters
    from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

    from pipelines.image import to_pil
    model = DepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        raw = model(**processor(images=to_pil(image[:1]), return_tensors="pt")).predicted_depth
    # near (large disparity) is white: the brightest pixel is where the model's is largest
    small = torch.nn.functional.interpolate(depth[:1, ..., 0][:, None], size=raw.shape[-2:],
                                            mode="area")[0, 0]
    assert torch.corrcoef(torch.stack([small.flatten(), raw[0].flatten()]))[0, 1] > 0.9


def test_a_folder_that_is_not_a_depth_model_is_named(tmp_path):
    from pipelines.errors import ModelLoadError
    from pipelines.loading.depth import load_depth_model

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError, match="Not a Depth Anything or DPT model") as info:
        load_depth_model(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("config", ["[1]", "[" * 5000, "\xff"])
def test_a_depth_folder_with_a_damaged_config_is_named_in_one_line(tmp_path, config):
    from pipelines.errors import ModelLoadError
    from pipelines.loading.depth import load_depth_model

    (tmp_path / "config.json").write_text(config, encoding="latin-1")
    with pytest.raises(ModelLoadError, match="config.json cannot be read") as info:
        load_depth_model(tmp_path)  # a nesting bomb too: no RecursionError (probe find)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_normals_from_depth_face_the_viewer_on_flat_depth_and_tilt_on_slopes():
    from pipelines.hints import normals_from_depth

    flat = torch.full((1, 16, 16, 3), 0.5)
    normal = normals_from_depth(flat)
    assert torch.allclose(normal, torch.tensor([0.5, 0.5, 1.0]).expand(1, 16, 16, 3))
    ramp = torch.linspace(0.2, 1.0, 16).view(1, 1, 16, 1).expand(1, 16, 16, 3).contiguous()
    tilted = normals_from_depth(ramp)[0, 8, 8]
    assert tilted[0] > 0.55 and abs(tilted[1].item() - 0.5) < 1e-6  # rises along x only
    steeper = normals_from_depth(ramp, strength=4.0)[0, 8, 8]
    assert steeper[0] > tilted[0] and steeper[2] < tilted[2]
    background = normals_from_depth(ramp * 0.05)[0, 8, 8]  # all below the background level
    assert torch.allclose(background, torch.tensor([0.5, 0.5, 1.0]))
    with pytest.raises(ValueError, match="strength"):
        normals_from_depth(flat, strength=0.0)
