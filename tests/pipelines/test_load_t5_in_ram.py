"""Networks kept in RAM between uses (T5 encoders on CUDA: ``placement.kept_in_ram``) are
loaded straight to the CPU, where they live, not to the GPU and back (9.5 GB each way for
DeepFloyd IF's T5-XXL); the other networks keep the direct path to the device."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from pipelines.families import folder_family, get_family
from pipelines.loading import checkpoint
from pipelines.loading.components import load_family_components, read_json
from pipelines.memory.placement import kept_in_ram, offloads_after_use

MIXED = {"denoiser": torch.bfloat16, "text_encoder": torch.float16, "vae": torch.float32}
CUDA_RULE = partial(kept_in_ram, device="cuda", vram_mode="normal")  # a CUDA run's rule


@pytest.fixture(scope="module")
def sd3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

    return build_tiny_sd3_folder(tmp_path_factory.mktemp("sd3") / "model")


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.named_parameters()) | dict(module.named_buffers())


def _spy_device_maps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    import diffusers
    import transformers

    seen: list[tuple[str, Any]] = []
    for cls in (diffusers.SD3Transformer2DModel, diffusers.AutoencoderKL,
                transformers.CLIPTextModelWithProjection, transformers.T5EncoderModel):
        real = cls.from_pretrained.__func__

        def from_pretrained(klass: type, *args: Any, real: Any = real, **kwargs: Any) -> Any:
            seen.append((klass.__name__, kwargs.get("device_map")))
            return real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(from_pretrained))
    return seen


def _load(folder: Path, device_map: torch.device | None = None, in_ram: Any = None
          ) -> dict[str, Any]:
    family = get_family(folder_family(folder))
    return load_family_components(folder, read_json(folder / "model_index.json"), family,
                                  MIXED, device_map, in_ram=in_ram)


def test_the_rule_is_the_offload_rule():
    """One rule: what the loader keeps in RAM is what ``on_device`` brings back there."""
    from transformers import CLIPTextModel, T5EncoderModel

    assert CUDA_RULE(T5EncoderModel) and not CUDA_RULE(CLIPTextModel)
    assert not kept_in_ram(T5EncoderModel, "cuda", "low")  # low: all in RAM anyway
    assert not kept_in_ram(T5EncoderModel, "cpu", "normal")
    with torch.device("meta"):
        t5 = T5EncoderModel(__import__("transformers").T5Config(
            vocab_size=8, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2))
    assert offloads_after_use(t5, "cuda", "auto") == kept_in_ram(T5EncoderModel, "cuda", "auto")


def test_t5_is_loaded_to_the_cpu_and_the_rest_to_the_device(sd3_dir, monkeypatch):
    """``meta`` stands in for the GPU: a network loaded there has meta tensors; T5 gets no
    ``device_map`` at all and holds the CPU load's very tensors."""
    today = _load(sd3_dir)
    seen = _spy_device_maps(monkeypatch)
    direct = _load(sd3_dir, torch.device("meta"), CUDA_RULE)
    assert sorted(seen) == [("AutoencoderKL", torch.device("meta")),
                            ("CLIPTextModelWithProjection", torch.device("meta")),
                            ("CLIPTextModelWithProjection", torch.device("meta")),
                            ("SD3Transformer2DModel", torch.device("meta")),
                            ("T5EncoderModel", None)]
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        assert {t.device.type for t in _tensors(direct[name]).values()} == {"meta"}, name
    want, got = _tensors(today["text_encoder_3"]), _tensors(direct["text_encoder_3"])
    assert want.keys() == got.keys()
    for name, tensor in want.items():
        assert got[name].device.type == "cpu" and got[name].dtype == tensor.dtype, name
        assert torch.equal(got[name], tensor), name


def _devices(module: torch.nn.Module) -> set[str]:
    return {t.device.type for t in _tensors(module).values()}


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_load_checkpoint_leaves_t5_where_the_rule_keeps_it(sd3_dir, tmp_path, monkeypatch, kind):
    """``load_checkpoint`` asks the placement rule (given the run's VRAM mode) and neither
    loads nor moves T5 to the device, from a folder or an all-in-one file; without a VRAM
    mode every network goes there."""
    from pipelines.loading import components
    from pipelines.memory import placement

    if kind == "file":
        from pipelines.testing.tiny_sd3 import build_tiny_sd3

        path = build_tiny_sd3(tmp_path).file
    else:
        path = sd3_dir
    for module in (checkpoint, components):
        monkeypatch.setattr(module, "direct_device", lambda device: torch.device("meta"))
    # the CUDA rule, asked about the stand-in device
    monkeypatch.setattr(placement, "kept_in_ram",
                        lambda kind, device, vram_mode: CUDA_RULE(kind, vram_mode=vram_mode))
    seen = _spy_device_maps(monkeypatch)
    model, clip, vae = checkpoint.load_checkpoint(path, device="meta", dtype=MIXED,
                                                  vram_mode="auto")
    if kind == "folder":
        assert ("T5EncoderModel", None) in seen
    assert _devices(clip.text_encoder_3) == {"cpu"}
    assert clip.text_encoder_3.dtype == torch.float16
    for net in (model.denoiser, vae.vae, clip.text_encoder, clip.text_encoder_2):
        assert _devices(net) == {"meta"}
    _, clip, _ = checkpoint.load_checkpoint(path, device="meta", dtype=MIXED)
    assert _devices(clip.text_encoder_3) == {"meta"}
    _, clip, _ = checkpoint.load_checkpoint(path, device="meta", dtype=MIXED, vram_mode="low")
    assert _devices(clip.text_encoder_3) == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cached_cuda_load_keeps_t5_in_ram(sd3_dir):
    from pipelines.loading.cached import load_checkpoint_cached
    from pipelines.memory.cache import ModelCache

    model, clip, _ = load_checkpoint_cached(sd3_dir, device="cuda", vram_mode="normal",
                                            cache=ModelCache())
    assert {t.device.type for t in _tensors(clip.text_encoder_3).values()} == {"cpu"}
    assert {t.device.type for t in _tensors(model.denoiser).values()} == {"cuda"}
