"""Cheap latent -> RGB previews and the full VAE preview."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.families import get_family
from pipelines.sampling.previews import decode_preview, default_factors, latent_to_rgb

SD1_LATENT_RGB_FACTORS = [list(row) for row in get_family("sd1").latent.rgb_factors]
SDXL_LATENT_RGB_FACTORS = [list(row) for row in get_family("sdxl").latent.rgb_factors]
SDXL_LATENT_RGB_BIAS = list(get_family("sdxl").latent.rgb_bias)


def test_shape_and_dtype_for_single_and_batched_latents():
    latent = torch.randn(2, 4, 6, 10)
    rgb = latent_to_rgb(latent)
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.shape == (6, 10, 3)
    assert np.array_equal(rgb, latent_to_rgb(latent[0]))  # the first image is shown


def test_factors_are_applied_by_hand():
    """Channel k = 1 everywhere (others 0) gives row k of the table, mapped (v + 1) * 127.5."""
    for k in range(4):
        latent = torch.zeros(4, 2, 3)
        latent[k] = 1.0
        expected = np.clip(np.round((np.array(SD1_LATENT_RGB_FACTORS[k]) + 1) * 127.5), 0, 255)
        rgb = latent_to_rgb(latent, family="sd1")
        assert np.array_equal(rgb[0, 0], expected.astype(np.uint8))
        assert np.all(rgb == rgb[0, 0])  # uniform latent -> uniform colour


def test_sdxl_table_includes_its_bias():
    latent = torch.zeros(4, 1, 1)
    latent[0, 0, 0], latent[3, 0, 0] = 0.5, -1.0
    f, b = np.array(SDXL_LATENT_RGB_FACTORS), np.array(SDXL_LATENT_RGB_BIAS)
    value = 0.5 * f[0] - 1.0 * f[3] + b
    expected = np.clip(np.round((value + 1) * 127.5), 0, 255).astype(np.uint8)
    assert np.array_equal(latent_to_rgb(latent, family="sdxl")[0, 0], expected)
    assert not np.array_equal(latent_to_rgb(latent, family="sd1")[0, 0], expected)


def test_explicit_factors_win_and_must_fit():
    latent = torch.zeros(2, 1, 1)
    latent[1] = 0.5
    rgb = latent_to_rgb(latent, factors=[[0, 0, 0], [1, -1, 0]], bias=[0, 0, 0.2], family="sd1")
    assert rgb[0, 0].tolist() == [191, 64, 153]  # (0.5, -0.5, 0.2) -> (v + 1) * 127.5
    with pytest.raises(ValueError):
        latent_to_rgb(torch.zeros(4, 1, 1), factors=[[1, 0, 0]])


def test_unknown_family_normalises_the_first_three_channels():
    latent = torch.zeros(8, 2, 2)
    latent[0] = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    latent[1] = 5.0  # flat channel: no division by zero
    rgb = latent_to_rgb(latent, family="unknown")
    assert rgb.shape == (2, 2, 3)
    assert rgb[..., 0].tolist() == [[0, 64], [128, 255]]
    assert (rgb[..., 1] == 0).all()
    assert default_factors("unknown") == (None, None)
    assert default_factors("sd1", channels=16) == (None, None)


def test_decode_preview_is_the_vae_decode_as_uint8(tiny):
    from pipelines.sampling.vae import decode
    from pipelines.values import Latent

    _, _, vae = tiny
    latent = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    preview = decode_preview(vae, Latent(latent))
    assert preview.dtype == np.uint8 and preview.shape == (16, 16, 3)
    expected = (decode(vae, Latent(latent[:1]))[0] * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(preview, expected)
    assert np.array_equal(decode_preview(vae, latent[0]), preview)


def test_throttle_keeps_to_the_rate_and_always_shows_the_last_step():
    from pipelines.sampling.previews import PreviewThrottle

    now = [0.0]
    throttle = PreviewThrottle(rate=10.0, clock=lambda: now[0])
    shown = []
    for index in range(30):  # 30 steps of 20 ms: 0.6 s
        if throttle.due(index, 30):
            shown.append(index)
        now[0] += 0.02
    assert shown[0] == 0 and shown[-1] == 29
    assert all(b - a >= 5 for a, b in zip(shown[:-2], shown[1:-1], strict=True))
    assert len(shown) <= 8


def test_renderer_builds_its_table_once_and_matches_latent_to_rgb(monkeypatch):
    from pipelines.sampling import previews

    render = previews.PreviewRenderer(None, None, "sdxl")
    latents = [torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(i))
               for i in range(5)]
    built = []
    tensor = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: built.append(1) or tensor(*a, **k))
    frames = [render(x, final=i == 4) for i, x in enumerate(latents)]
    assert len(built) == 2  # factors and bias, once for the whole run
    monkeypatch.undo()
    for frame, x in zip(frames, latents, strict=True):
        assert np.array_equal(frame, latent_to_rgb(x, family="sdxl"))
