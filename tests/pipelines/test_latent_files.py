"""``.latent`` files: ours round-trip exactly, ComfyUI's (current and legacy, built here as its
SaveLatent writes them) are read in the right scale, and hostile files give one clear line."""

from __future__ import annotations

import struct

import pytest
import torch
from safetensors.torch import load, save_file

from pipelines.latent_files import LatentFileError, encode, read
from pipelines.values import Latent


def _samples(channels: int = 4) -> torch.Tensor:
    return torch.randn(2, channels, 6, 5, generator=torch.Generator().manual_seed(0))


def test_ours_round_trip_with_the_family_recorded(tmp_path):
    latent = Latent(samples=_samples(), space="sdxl")
    (tmp_path / "a.latent").write_bytes(encode(latent, "auto", '{"nodes": []}'))
    back = read(tmp_path / "a.latent")
    assert back.space == "sdxl"
    assert torch.allclose(back.samples, latent.samples, atol=1e-6)


def test_what_comfyui_reads_is_the_vaes_own_latents(tmp_path):
    samples = _samples(16)
    data = load(encode(Latent(samples=samples, space="flux_dev"), "auto"))
    assert set(data) == {"latent_tensor", "latent_format_version_0"}
    assert data["latent_format_version_0"].numel() == 0
    assert torch.allclose(data["latent_tensor"], samples / 0.3611 + 0.1159, atol=1e-6)


def test_a_file_written_as_comfyui_writes_it(tmp_path):
    raw = _samples(16)
    path = tmp_path / "ComfyUI_00001_.latent"
    save_file({"latent_tensor": raw, "latent_format_version_0": torch.tensor([])}, str(path),
              metadata={"prompt": "{}", "workflow": "{}"})
    flux = read(path, "flux_dev")
    assert flux.space == "flux_dev"
    assert torch.allclose(flux.samples, (raw - 0.1159) * 0.3611, atol=1e-6)
    sd3 = read(path, "sd3")
    assert torch.allclose(sd3.samples, (raw - 0.0609) * 1.5305, atol=1e-6)
    with pytest.raises(LatentFileError, match="'family'") as caught:
        read(path)  # 16 channels: SD3 or Flux, which scale differently
    assert caught.value.field == "family"


def test_legacy_files_hold_sd1_scaled_latents(tmp_path):
    scaled = _samples()
    path = tmp_path / "old.latent"
    save_file({"latent_tensor": scaled}, str(path))  # before the marker: already x 0.18215
    assert torch.allclose(read(path, "sd1").samples, scaled, atol=1e-6)
    sdxl = read(path, "sdxl").samples
    assert torch.allclose(sdxl, scaled / 0.18215 * 0.13025, atol=1e-6)


def test_a_latent_of_unknown_origin_needs_its_family_to_save():
    with pytest.raises(LatentFileError, match="family") as caught:
        encode(Latent(samples=_samples()), "auto")
    assert caught.value.field == "family"
    assert load(encode(Latent(samples=_samples()), "sd1"))["latent_tensor"].shape == (2, 4, 6, 5)
    with pytest.raises(LatentFileError, match="not one of"):
        encode(Latent(samples=_samples()), "deepfloyd_if")  # pixels, not VAE latents


def _header_only(path, header: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p.write_bytes(b"PK\x03\x04 a zip, not safetensors"), "safetensors"),
    (lambda p: p.write_bytes(struct.pack("<Q", 1 << 40) + b"{}"), "header length"),
    (lambda p: _header_only(p, b'{"a": [1, 2'), "header"),
    (lambda p: save_file({"x": torch.zeros(1, 4, 2, 2)}, str(p)), "no 'latent_tensor'"),
    (lambda p: save_file({"latent_tensor": torch.zeros(1, 4, 2, 2, dtype=torch.int32)}, str(p)),
     "not floats"),
    (lambda p: save_file({"latent_tensor": torch.zeros(4, 2, 2)}, str(p)), "shape"),
    (lambda p: _header_only(p, b'{"latent_tensor": {"dtype": "F32", "shape": [1, 4, 8, 8], '
                               b'"data_offsets": [0, 1024]}}'), "cannot be read"),
    (lambda p: _header_only(p, b'{"latent_tensor": {"dtype": "F32", "shape": [65536, 4, 8192, '
                               b'8192], "data_offsets": [0, 4]}}'), "over the limit"),
])
def test_hostile_files_give_one_line(tmp_path, make, expected):
    path = tmp_path / "bad.latent"
    make(path)
    with pytest.raises(LatentFileError, match=expected) as caught:
        read(path, "sd1")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.latent")
    with pytest.raises(LatentFileError, match="FIFO"):
        read(tmp_path / "pipe.latent", "sd1")
