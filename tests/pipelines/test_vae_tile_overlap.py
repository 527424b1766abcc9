"""Tiled VAE decode/encode (ComfyUI's VAEDecodeTiled / VAEEncodeTiled): the tile size and the
overlap reach the VAE (the tiles it runs are counted and measured), and the tiled result stays
close to the plain one on a tiny VAE (stated bounds below)."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.sampling.vae import decode, encode, tiled
from pipelines.testing.tiny import _vae
from pipelines.values import Latent, Vae

# Tiled vs plain on the tiny random VAE (80x80 pixels, tiles of 32 px, overlap 4 / 8 px):
# seams are blended, not removed, so the bounds are on the mean. Measured: decode mean 0.027 /
# 0.022 (max 0.27 / 0.18) on 0..1 pixels; encode mean 0.010 / 0.008 against a mean |latent| of
# 0.044 (this VAE's receptive field is most of a tile). More overlap comes closer.
MEAN_BOUND = 0.05  # decoded pixels
ENCODE_BOUND = 0.25  # encoded, relative to the mean |latent|


@pytest.fixture()
def vae() -> Vae:
    torch.manual_seed(0)
    return Vae(vae=_vae().eval(), scaling_factor=0.18215, shift_factor=None, source="tiny")


def _record(module: torch.nn.Module) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    real = module.forward

    def forward(x, *args, **kwargs):
        sizes.append(tuple(x.shape[-2:]))
        return real(x, *args, **kwargs)

    module.forward = forward
    return sizes


def _tiles(length: int, tile: int, overlap_factor: float) -> int:
    """How many tiles diffusers' tiled VAE runs along one side of ``length`` cells."""
    return math.ceil(length / int(tile * (1 - overlap_factor)))


@pytest.mark.parametrize(("overlap", "factor"), [(None, 0.25), (8, 0.25), (4, 0.125), (0, 0.0),
                                                 (30, 0.25)])
def test_decode_tiles_follow_tile_size_and_overlap(vae, overlap, factor):
    latent = Latent(torch.randn(1, 4, 40, 40, generator=torch.Generator().manual_seed(3)))
    sizes = _record(vae.vae.decoder)
    image = decode(vae, latent, tiling="always", tile=32, overlap=overlap)
    assert image.shape == (1, 80, 80, 3)
    per_side = _tiles(40, 16, factor)  # 32 px tiles are 16 latent cells (the VAE's factor 2)
    assert len(sizes) == per_side ** 2
    assert max(max(s) for s in sizes) == 16
    assert vae.vae.tile_overlap_factor == 0.25  # the VAE is left as it was


def test_encode_tiles_follow_tile_size_and_overlap(vae):
    image = torch.rand(1, 80, 80, 3, generator=torch.Generator().manual_seed(4))
    sizes = _record(vae.vae.encoder)
    encode(vae, image, tiling="always", tile=32, overlap=4)
    assert len(sizes) == _tiles(80, 32, 0.125) ** 2 and max(max(s) for s in sizes) == 32


def test_tiled_is_close_to_plain(vae):
    latent = Latent(torch.randn(1, 4, 40, 40, generator=torch.Generator().manual_seed(3)))
    plain = decode(vae, latent, tiling="never")
    means = [(decode(vae, latent, tiling="always", tile=32, overlap=overlap) - plain).abs().mean()
             for overlap in (4, 8)]
    assert 0 < means[1] < means[0] < MEAN_BOUND
    image = torch.rand(1, 80, 80, 3, generator=torch.Generator().manual_seed(4))
    whole = encode(vae, image, tiling="never").samples
    means = [(encode(vae, image, tiling="always", tile=32, overlap=overlap).samples - whole)
             .abs().mean() for overlap in (4, 8)]
    assert 0 < means[1] < means[0] < ENCODE_BOUND * whole.abs().mean()


def test_overlap_is_at_most_a_quarter_of_the_tile(vae):
    net = vae.vae
    with tiled(vae, tile=64, overlap=48):
        assert net.tile_overlap_factor == 0.25 and net.tile_sample_min_size == 64
    with tiled(vae, tile=64, overlap=8):
        assert net.tile_overlap_factor == 0.125
    assert net.tile_overlap_factor == 0.25
