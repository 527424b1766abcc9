"""Placement: networks moved whole (LoRA copies included) and back to their storage device,
room made on the GPU before a low-VRAM move, and size estimates that count only what loads.

There is no GPU here: "meta" stands in for it (the cache treats every device but the CPU and
MPS as VRAM), with ``MetaStored`` networks that can come back from it.
"""

from __future__ import annotations

import torch
from safetensors.torch import save_file

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.lora import apply_lora
from pipelines.memory.budget import GIB
from pipelines.memory.cache import ModelCache
from pipelines.memory.networks import device_of, tensor_bytes
from pipelines.memory.placement import estimate_bytes, on_device
from tests.pipelines.test_lora import make_lora
from tests.pipelines.test_model_cache import MetaStored

F16, F32 = torch.float16, torch.float32


def _devices(network: torch.nn.Module) -> set[str]:
    """The device types of every parameter and buffer (not just the first)."""
    return {t.device.type for t in (*network.parameters(), *network.buffers())}


def test_a_lora_copy_of_an_offloaded_base_runs_wholly_on_the_device(tiny_dir):
    model, clip, vae = load_checkpoint(tiny_dir)
    cache = ModelCache(ram_budget=GIB, vram_budget=GIB)
    # stored on the "GPU" but offloaded to the CPU by the VRAM budget when the LoRA node runs
    cache.get_or_load(("checkpoint", "base"), lambda: (model, clip, vae), "meta")
    lmodel, _ = apply_lora(model, clip, make_lora(model, clip, "kohya"))
    assert device_of(model.denoiser).type == "cpu"
    with on_device(lmodel, "meta", cache=cache):  # the base comes back first, then the copy
        assert _devices(lmodel.denoiser) == _devices(model.denoiser) == {"meta"}
    # normal mode: the copy stays on its entry's storage device, not split across two
    assert _devices(lmodel.denoiser) == _devices(model.denoiser) == {"meta"}


def test_low_vram_moves_make_room_on_the_gpu_first():
    size = tensor_bytes([MetaStored(16, 16, device="meta")])["meta"]
    cache = ModelCache(ram_budget=GIB, vram_budget=2 * size + size // 2)  # two fit, not three
    a = cache.get_or_load(("checkpoint", "a"), lambda: MetaStored(16, 16, device="meta"), "meta")
    b = cache.get_or_load(("checkpoint", "b"), lambda: MetaStored(16, 16, device="meta"), "meta")
    low = cache.get_or_load(("checkpoint", "low"), lambda: MetaStored(16, 16), "cpu")
    assert cache.used() == (size, 2 * size)
    with on_device(low, "meta", cache=cache):
        # the least recently used idle entry went to the CPU before the move
        assert [device_of(n).type for n in (a, b, low)] == ["cpu", "meta", "meta"]
        assert cache.used()[1] == 2 * size <= cache.vram_budget
        assert cache.stats()["offloads"] == 1
    assert [device_of(n).type for n in (a, b, low)] == ["cpu", "meta", "cpu"]


def test_reserve_moves_idle_gpu_entries_only():
    size = tensor_bytes([MetaStored(8, 8, device="meta")])["meta"]
    cache = ModelCache(ram_budget=GIB, vram_budget=2 * size)
    a = cache.get_or_load(("checkpoint", "a"), lambda: MetaStored(8, 8, device="meta"), "meta")
    b = cache.get_or_load(("checkpoint", "b"), lambda: MetaStored(8, 8, device="meta"), "meta")
    cache.reserve(size, "cpu")  # RAM is not what a low-VRAM move needs
    cache.reserve(0, "meta")
    assert cache.stats()["offloads"] == 0
    with cache.using([a]):  # a is in use: b, though more recent, is the one that moves
        cache.reserve(size, "meta")
        assert (device_of(a).type, device_of(b).type) == ("meta", "cpu")
    assert cache.used() == (size, size) and cache.stats()["offloads"] == 1
    cache.reserve(3 * size, "meta")  # more than the budget: everything idle makes way
    assert device_of(a).type == "cpu" and cache.used() == (2 * size, 0)


def _safetensors(path, tensors: dict[str, tuple[int, ...]], dtype=F32):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.zeros(shape, dtype=dtype) for k, shape in tensors.items()}, str(path))
    return path


def test_single_file_estimate_counts_only_what_the_loader_reads(tmp_path):
    dtypes = {"denoiser": F16, "text_encoder": F16, "vae": F32}
    parts = {"model.diffusion_model.in.weight": (10, 4), "first_stage_model.enc.weight": (6,),
             "cond_stage_model.transformer.text_model.w": (3, 3),
             "conditioner.embedders.1.model.proj": (5,)}
    plain = _safetensors(tmp_path / "plain.safetensors", parts)
    expected = 40 * 2 + 6 * 4 + 9 * 2 + 5 * 2
    assert estimate_bytes(plain, dtypes) == expected
    ema = _safetensors(tmp_path / "ema.safetensors", {
        **parts, "model_ema.inweight": (10, 4), "model_ema.decay": (), "cond_stage_model.x": (7,),
    })
    assert estimate_bytes(ema, dtypes) == expected  # EMA copies and unread extras: not loaded
    vae = _safetensors(tmp_path / "vae.safetensors", {"encoder.w": (8,), "decoder.w": (2, 2)})
    assert estimate_bytes(vae, dict.fromkeys(dtypes, F16)) == 12 * 2  # a component file: all


def test_folder_estimate_prefers_the_plain_files_to_variants(tmp_path):
    dtypes = {"denoiser": F16, "text_encoder": F32, "vae": F32}
    _safetensors(tmp_path / "unet" / "diffusion_pytorch_model.safetensors", {"w": (100,)})
    _safetensors(tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors", {"w": (100,)},
                 F16)
    _safetensors(tmp_path / "text_encoder" / "model-00001-of-00002.safetensors", {"a": (10,)})
    _safetensors(tmp_path / "text_encoder" / "model-00002-of-00002.safetensors", {"b": (10,)})
    _safetensors(tmp_path / "text_encoder" / "model.fp16-00001-of-00001.safetensors",
                 {"a": (10,), "b": (10,)}, F16)
    _safetensors(tmp_path / "vae" / "diffusion_pytorch_model.fp16.safetensors", {"w": (5,)}, F16)
    # unet: the plain file only; text encoder: both plain shards; vae: only a variant exists
    assert estimate_bytes(tmp_path, dtypes) == 100 * 2 + 20 * 4 + 5 * 4
