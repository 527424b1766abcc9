"""Per-component precision: the automatic choices per device and family, and loading that
really gives each network the dtype asked for (folders and single files)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint, load_vae
from pipelines.memory.precision import (
    checkpoint_dtypes,
    choose_dtypes,
    component_dtypes,
    peek_family,
)
from pipelines.testing.tiny_families import build_family

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16


def _triple(dtypes):
    return dtypes["denoiser"], dtypes["text_encoder"], dtypes["vae"]


@pytest.mark.parametrize(("device", "family", "requested", "vae", "upcast", "expected"), [
    ("cpu", "sdxl", "auto", "auto", True, (F32, F32, F32)),
    ("cpu", "sd1", "fp16", "auto", True, (F16, F16, F16)),
    ("cpu", "sd1", "bf16", "fp32", True, (BF16, BF16, F32)),
    ("cuda", "sd1", "auto", "auto", True, (F16, F16, F16)),
    ("cuda:1", "sd2", "auto", "auto", True, (F16, F16, F16)),
    # SDXL's VAE overflows in fp16: kept in fp32 unless its config says it need not be
    ("cuda", "sdxl", "auto", "auto", True, (F16, F16, F32)),
    ("cuda", "sdxl_refiner", "fp16", "auto", True, (F16, F16, F32)),
    ("cuda", "sdxl", "auto", "auto", False, (F16, F16, F16)),
    ("cuda", "sdxl", "auto", "fp16", True, (F16, F16, F16)),  # the user forces it
    ("cuda", "sdxl", "bf16", "auto", True, (BF16, BF16, BF16)),  # bf16 has fp32's range
    ("cuda", "unknown", "auto", "auto", True, (F16, F16, F32)),
    ("cuda", "sd1", "fp32", "auto", True, (F32, F32, F32)),
    ("mps", "sd1", "auto", "auto", True, (F16, F16, F32)),
    ("mps", "sd1", "auto", "fp16", True, (F16, F16, F16)),
])
def test_choose_dtypes(device, family, requested, vae, upcast, expected):
    assert _triple(choose_dtypes(device, family, requested, vae, upcast)) == expected


def test_unknown_precision_is_a_value_error_naming_the_choices():
    with pytest.raises(ValueError, match="precision 'fp8'.*auto, fp32, fp16, bf16"):
        choose_dtypes("cpu", "sd1", "fp8")
    with pytest.raises(ValueError, match="vae precision"):
        choose_dtypes("cpu", "sd1", "auto", "half")
    with pytest.raises(ValueError, match="unknown component"):
        component_dtypes({"denoiser": F16, "clip": F16})


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    return {name: build_family(name, root / name) for name in ("sd1", "sdxl")}


def test_family_and_force_upcast_are_read_without_loading(families, tmp_path):
    assert peek_family(families["sdxl"].folder) == ("sdxl", True)
    assert peek_family(families["sdxl"].file) == ("sdxl", True)
    assert peek_family(families["sd1"].file)[0] == "sd1"
    fixed = shutil.copytree(families["sdxl"].folder, tmp_path / "sdxl-fp16-fix")
    config = json.loads((fixed / "vae" / "config.json").read_text())
    (fixed / "vae" / "config.json").write_text(json.dumps(dict(config, force_upcast=False)))
    assert peek_family(fixed) == ("sdxl", False)
    assert _triple(checkpoint_dtypes(fixed, "cuda")) == (F16, F16, F16)
    assert _triple(checkpoint_dtypes(families["sdxl"].folder, "cuda")) == (F16, F16, F32)
    assert peek_family(tmp_path / "missing.safetensors") == ("unknown", True)


def _dtypes_of(loaded):
    model, clip, vae = loaded
    nets = {"denoiser": model.denoiser, "text_encoder": clip.text_encoder,
            "text_encoder_2": clip.text_encoder_2, "vae": vae.vae}
    return {name: {p.dtype for p in net.parameters()} for name, net in nets.items() if net}


@pytest.mark.parametrize("form", ["folder", "file"])
def test_loading_gives_each_component_its_dtype(families, form):
    wanted = {"denoiser": F16, "text_encoder": BF16, "vae": F32}
    loaded = load_checkpoint(getattr(families["sdxl"], form), dtype=wanted)
    assert _dtypes_of(loaded) == {"denoiser": {F16}, "text_encoder": {BF16},
                                  "text_encoder_2": {BF16}, "vae": {F32}}
    # one dtype for all still works, and None is float32 as before
    assert all(d == {F16} for d in _dtypes_of(load_checkpoint(
        getattr(families["sd1"], form), dtype=F16)).values())
    assert all(d == {F32} for d in _dtypes_of(load_checkpoint(
        getattr(families["sd1"], form))).values())


def test_bf16_text_encoder_runs_on_cpu_close_to_fp32(families):
    from pipelines.text.conditioning import encode_text

    full = load_checkpoint(families["sd1"].folder)[1]
    half = load_checkpoint(families["sd1"].folder, dtype={"text_encoder": BF16})[1]
    a, b = encode_text(full, "a red circle"), encode_text(half, "a red circle")
    assert b.embeds.dtype == BF16
    assert torch.isfinite(b.embeds.float()).all()
    assert (a.embeds - b.embeds.float()).abs().max() < 0.1 * a.embeds.abs().max()


def test_load_vae_takes_a_dtype(families):
    vae = load_vae(families["sd1"].folder, dtype=F16)
    assert {p.dtype for p in vae.vae.parameters()} == {F16}
    assert {p.dtype for p in load_vae(families["sd1"].folder).vae.parameters()} == {F32}
