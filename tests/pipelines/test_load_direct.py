"""Networks loaded straight to the run device (``from_pretrained(device_map=...)``) are the
networks the CPU load and ``.to(device)`` give: same tensors, dtypes per role, eval mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pipelines.families import folder_family, get_family
from pipelines.loading import checkpoint
from pipelines.loading.components import direct_device, load_family_components, read_json

MIXED = {"denoiser": torch.bfloat16, "text_encoder": torch.float16, "vae": torch.float32}


def _load(folder: Path, dtypes: dict[str, torch.dtype],
          device_map: torch.device | None = None) -> dict[str, Any]:
    family = get_family(folder_family(folder))
    return load_family_components(folder, read_json(folder / "model_index.json"), family,
                                  dtypes, device_map)


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and every buffer (non-persistent ones too: CLIP's position ids)."""
    return dict(module.named_parameters()) | dict(module.named_buffers())


def _assert_same(today: torch.nn.Module, direct: torch.nn.Module) -> None:
    want, got = _tensors(today), _tensors(direct)
    assert want.keys() == got.keys()
    for name, tensor in want.items():
        assert got[name].dtype == tensor.dtype, name
        assert got[name].device == tensor.device, name
        assert torch.equal(got[name], tensor), name
    assert not direct.training and not any(p.requires_grad for p in direct.parameters())
    assert "hf_device_map" not in vars(direct)  # one device, no dispatch hooks


@pytest.mark.parametrize("dtypes", [dict.fromkeys(MIXED, torch.float32), MIXED],
                         ids=["fp32", "per-role"])
def test_the_direct_load_gives_the_cpu_loads_weights(tiny_dir, dtypes):
    today = _load(tiny_dir, dtypes)
    direct = _load(tiny_dir, dtypes, torch.device("cpu"))
    assert today.keys() == direct.keys()
    networks = [name for name, part in today.items() if isinstance(part, torch.nn.Module)]
    assert sorted(networks) == ["text_encoder", "unet", "vae"]
    for name in networks:
        _assert_same(today[name], direct[name])
        assert {t.dtype for t in _tensors(direct[name]).values() if t.is_floating_point()} == {
            dtypes[{"unet": "denoiser"}.get(name, name)]}
    assert type(direct["tokenizer"]) is type(today["tokenizer"])


def test_the_networks_end_up_on_the_requested_device(tiny_dir):
    """``meta`` stands in for a GPU here: a network not loaded there would be on the CPU."""
    direct = _load(tiny_dir, MIXED, torch.device("meta"))
    for name in ("unet", "vae", "text_encoder"):
        assert {t.device.type for t in _tensors(direct[name]).values()} == {"meta"}, name


def test_load_checkpoint_passes_the_device_to_from_pretrained(tiny_dir, tiny, monkeypatch):
    """Where ``direct_device`` says so (a CUDA run), the loader hands the device to the
    libraries' own loaders, and the model is the one the CPU path loads."""
    import diffusers
    import transformers

    seen: list[tuple[str, Any]] = []

    def spy(cls: type) -> None:
        real = cls.from_pretrained.__func__

        def from_pretrained(klass: type, *args: Any, **kwargs: Any) -> Any:
            seen.append((klass.__name__, kwargs.get("device_map")))
            return real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(from_pretrained))

    for cls in (diffusers.UNet2DConditionModel, diffusers.AutoencoderKL,
                transformers.CLIPTextModel):
        spy(cls)
    monkeypatch.setattr(checkpoint, "direct_device", lambda device: torch.device(device))
    model, clip, vae = checkpoint.load_checkpoint(tiny_dir, device="cpu")
    assert sorted(seen) == [("AutoencoderKL", torch.device("cpu")),
                            ("CLIPTextModel", torch.device("cpu")),
                            ("UNet2DConditionModel", torch.device("cpu"))]
    want_model, want_clip, want_vae = tiny
    _assert_same(want_model.denoiser, model.denoiser)
    _assert_same(want_clip.text_encoder, clip.text_encoder)
    _assert_same(want_vae.vae, vae.vae)


def test_only_a_gpu_takes_the_direct_path():
    """The CPU (also where a low-VRAM load stores) and MPS keep the load-then-move path."""
    assert direct_device("cpu") is None
    assert direct_device(torch.device("cpu")) is None
    assert direct_device("mps") is None
    assert direct_device("cuda:1") == torch.device("cuda", 1)  # accelerate is installed here
    if torch.cuda.is_available():
        assert direct_device("cuda") == torch.device("cuda", torch.cuda.current_device())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a device torch cannot reach")
def test_a_failed_direct_load_falls_back_to_the_cpu_path(tiny_dir):
    """A device the libraries cannot load to (CUDA on a CPU-only torch) costs a retry, never
    the model: the CPU path loads it, and reports what it always did if it fails too."""
    today = _load(tiny_dir, MIXED)
    fallen = _load(tiny_dir, MIXED, torch.device("cuda", 0))
    for name in ("unet", "vae", "text_encoder"):
        _assert_same(today[name], fallen[name])


def test_quantized_components_keep_the_cpu_path(tmp_path):
    from pipelines.loading.components import _quantized

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text('{"in_channels": 4}')
    (tmp_path / "bnb").mkdir()
    (tmp_path / "bnb" / "config.json").write_text('{"quantization_config": {"load_in_4bit": true}}')
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / "unet.gguf").write_bytes(b"GGUF")
    assert not _quantized(tmp_path / "plain")
    assert _quantized(tmp_path / "bnb") and _quantized(tmp_path / "gguf")


def _placed_directly(path: Path, monkeypatch: Any, slots: tuple[str, ...]) -> None:
    """A single file loaded with each weight cast and put on the device one at a time equals
    today's load, and no float32 copy of a whole network is made on the CPU first
    (``gguf_model.prepare`` makes that copy)."""
    from pipelines.loading import components, gguf_model
    from pipelines.loading.single_file import load_single_file

    today = load_single_file(path, dtype=MIXED)
    copies: list[int] = []
    real_prepare = gguf_model.prepare

    def prepare(*args: Any) -> Any:
        copies.append(1)
        return real_prepare(*args)

    monkeypatch.setattr(gguf_model, "prepare", prepare)
    monkeypatch.setattr(components, "direct_device", lambda device: torch.device(device))
    direct = load_single_file(path, dtype=MIXED)
    assert copies == []  # no float32 network on the CPU first
    (model, clip, vae), (want_model, want_clip, want_vae) = direct, today
    _assert_same(want_model.denoiser, model.denoiser)
    _assert_same(want_vae.vae, vae.vae)
    for slot in slots:
        _assert_same(getattr(want_clip, slot), getattr(clip, slot))


@pytest.mark.parametrize("variant", ["sd1", "sdxl"])
def test_a_single_file_placed_directly_gives_the_same_networks(tmp_path, monkeypatch, variant):
    """Single files: each weight cast and put on the device one at a time."""
    from pipelines.testing.tiny_families import build_family

    slots = ("text_encoder",) if variant == "sd1" else ("text_encoder", "text_encoder_2")
    _placed_directly(build_family(variant, tmp_path).file, monkeypatch, slots)


def test_an_sd3_file_is_placed_directly_too(tmp_path, monkeypatch):
    """SD3 all-in-one files take the SD single files' one-weight-at-a-time placement for the
    transformer, the VAE and both CLIPs (T5 is built in its stored dtype, as before)."""
    from pipelines.loading.single_file import load_single_file
    from pipelines.testing.tiny_sd3 import build_tiny_sd3

    path = build_tiny_sd3(tmp_path).file
    _placed_directly(path, monkeypatch, ("text_encoder", "text_encoder_2", "text_encoder_3"))
    meta = load_single_file(path, device="meta", dtype=MIXED)  # meta stands in for the GPU
    for net in (meta[0].denoiser, meta[1].text_encoder, meta[1].text_encoder_2, meta[2].vae):
        assert {t.device.type for t in _tensors(net).values()} == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_load_equals_the_cpu_load_moved(tiny_dir):
    """On a GPU: the direct load against today's load-then-move, tensor for tensor."""
    direct = checkpoint.load_checkpoint(tiny_dir, device="cuda", dtype=MIXED)
    moved = _load(tiny_dir, MIXED)
    for name in ("unet", "vae", "text_encoder"):
        moved[name].to("cuda")
    _assert_same(moved["unet"], direct[0].denoiser)
    _assert_same(moved["text_encoder"], direct[1].text_encoder)
    _assert_same(moved["vae"], direct[2].vae)
