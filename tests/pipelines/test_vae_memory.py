"""VAE under memory pressure: tiled decode/encode, retry in tiles on out-of-memory, fp16 upcast.

The GPU's memory limit is played by a decoder that raises torch.OutOfMemoryError for inputs
larger than a given latent size; everything else is the real VAE and the real fallback code.
"""

from __future__ import annotations

import copy

import pytest
import torch

from pipelines.errors import OutOfMemory
from pipelines.sampling.vae import decode, encode, tiled
from pipelines.testing.tiny import _vae
from pipelines.values import Latent, Vae


@pytest.fixture()
def vae() -> Vae:
    torch.manual_seed(0)
    return Vae(vae=_vae().eval(), scaling_factor=0.18215, shift_factor=None, source="tiny")


@pytest.fixture()
def big_latent() -> Latent:
    # 40x40 latents = 80x80 pixels; the tiny VAE's own tiles are 32 px (16 latents).
    return Latent(torch.randn(2, 4, 40, 40, generator=torch.Generator().manual_seed(3)))


def _limit_memory(vae: Vae, part: str, max_side: int) -> list[int]:
    """Make ``vae.vae.<part>`` fail like a full GPU for inputs wider than ``max_side``."""
    module = getattr(vae.vae, part)
    real = module.forward
    sides: list[int] = []

    def forward(x, *args, **kwargs):
        sides.append(x.shape[-1])
        if x.shape[-1] > max_side:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(x, *args, **kwargs)

    module.forward = forward
    return sides


def test_tiled_decode_is_close_to_plain_but_really_tiled(vae, big_latent):
    plain = decode(vae, big_latent, tiling="never")
    tiles = decode(vae, big_latent, tiling="always")
    assert tiles.shape == plain.shape == (2, 80, 80, 3)
    difference = (tiles - plain).abs()
    assert difference.max() > 0  # the tiled path really ran
    assert difference.mean() < 0.05  # and blends into nearly the same picture


def test_tiling_settings_come_back(vae):
    net = vae.vae
    before = (net.use_tiling, net.use_slicing, net.tile_sample_min_size, net.tile_latent_min_size)
    with tiled(vae, tile=16):
        assert net.use_tiling and net.tile_latent_min_size == 8
    assert (net.use_tiling, net.use_slicing, net.tile_sample_min_size,
            net.tile_latent_min_size) == before


def test_out_of_memory_retries_in_tiles(vae, big_latent, caplog):
    expected = decode(vae, big_latent, tiling="always")
    sides = _limit_memory(vae, "decoder", max_side=16)
    result = decode(vae, big_latent)  # auto
    assert torch.equal(result, expected)
    assert sides[0] == 40 and max(sides[1:]) <= 16  # one failed full pass, then tiles
    assert "retrying in tiles" in caplog.text
    assert not vae.vae.use_tiling  # the VAE is left as it was


def test_out_of_memory_without_fallback_is_a_clear_error(vae, big_latent):
    _limit_memory(vae, "decoder", max_side=16)
    with pytest.raises(OutOfMemory, match=r"VAE decode of a 80x80 image.*--vram low"):
        decode(vae, big_latent, tiling="never")


def test_out_of_memory_even_in_tiles(vae, big_latent):
    _limit_memory(vae, "decoder", max_side=8)
    with pytest.raises(OutOfMemory, match="even in tiles"):
        decode(vae, big_latent)


def test_smaller_tiles_fit_where_default_tiles_do_not(vae, big_latent):
    _limit_memory(vae, "decoder", max_side=8)
    image = decode(vae, big_latent, tile=16)
    assert image.shape == (2, 80, 80, 3) and torch.isfinite(image).all()


def test_other_errors_are_not_mistaken_for_memory(vae, big_latent):
    def broken(*args, **kwargs):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    vae.vae.decoder.forward = broken
    with pytest.raises(RuntimeError, match="CUDNN"):
        decode(vae, big_latent)


def test_encode_retries_in_tiles(vae):
    image = torch.rand(1, 80, 80, 3, generator=torch.Generator().manual_seed(4))
    expected = encode(vae, image, tiling="always")
    _limit_memory(vae, "encoder", max_side=32)
    latent = encode(vae, image)
    assert torch.equal(latent.samples, expected.samples)


def test_fp16_overflow_is_upcast_to_fp32(vae):
    """An fp16 VAE whose activations overflow (as SDXL's does) still gives the fp32 image."""
    with torch.no_grad():
        vae.vae.decoder.conv_in.weight.mul_(20000.0)  # weights fit fp16, activations do not
    reference = decode(vae, Latent(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))))
    half = Vae(vae=copy.deepcopy(vae.vae).half(), scaling_factor=vae.scaling_factor,
               shift_factor=None, source="tiny")
    latent = Latent(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5)))
    with torch.no_grad():
        raw = half.vae.decode((latent.samples / half.scaling_factor).half()).sample
    assert not torch.isfinite(raw).all()  # the overflow is real
    image = decode(half, latent)
    assert torch.isfinite(image).all()
    assert next(half.vae.parameters()).dtype == torch.float32
    assert torch.allclose(image, reference, atol=1e-3)
