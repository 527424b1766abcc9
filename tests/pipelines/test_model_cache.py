"""The model cache: hits skip the disk, budgets in real bytes evict the least recently used
entry, changed files reload, entries in use stay, and networks are placed and put back."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from pipelines import loading
from pipelines.cached_loading import load_checkpoint_cached
from pipelines.model_cache import GIB, ModelCache, default_ram_budget
from pipelines.placement import device_of, networks_of, on_device, tensor_bytes
from pipelines.tiny import build_tiny_sd

_REAL_LOAD = loading.load_checkpoint


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    return [build_tiny_sd(root / name, seed=seed) for seed, name in enumerate("abc")]


@pytest.fixture()
def loads(monkeypatch):
    """Paths the real loader was called with (it still loads from disk)."""
    calls: list = []
    real = loading.load_checkpoint

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loading, "load_checkpoint", counting)
    return calls


def _size(path) -> int:
    """Bytes of a model's parameters and buffers, loaded (uncounted) in float32."""
    return tensor_bytes(networks_of(_REAL_LOAD(path)))["cpu"]


def test_a_hit_returns_the_same_objects_without_loading(checkpoints, loads):
    cache = ModelCache()
    first = load_checkpoint_cached(checkpoints[0], cache=cache)
    again = load_checkpoint_cached(checkpoints[0], cache=cache)
    assert loads == [checkpoints[0]]
    assert all(a is b for a, b in zip(first, again, strict=True))
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert stats["ram_bytes"] == tensor_bytes(networks_of(first))["cpu"] > 0
    # other dtypes are another entry, not the fp32 one converted
    half = load_checkpoint_cached(checkpoints[0], precision="fp16", cache=cache)
    assert half[0].unet.dtype == torch.float16 and first[0].unet.dtype == torch.float32
    assert len(loads) == 2
    cache.clear()
    assert cache.stats()["entries"] == 0
    load_checkpoint_cached(checkpoints[0], cache=cache)
    assert len(loads) == 3


def test_two_models_within_the_budget_both_stay(checkpoints, loads):
    a, b = checkpoints[:2]
    cache = ModelCache(ram_budget=_size(a) + _size(b))
    model_a = load_checkpoint_cached(a, cache=cache)[0]
    load_checkpoint_cached(b, cache=cache)
    assert load_checkpoint_cached(a, cache=cache)[0] is model_a  # switching back is a hit
    assert load_checkpoint_cached(b, cache=cache)
    assert loads == [a, b] and cache.stats()["evictions"] == 0


def test_a_budget_below_two_models_evicts_the_least_recently_used(checkpoints, loads):
    a, b, c = checkpoints
    cache = ModelCache(ram_budget=_size(a) + _size(b) + _size(c) // 2)
    model_a = load_checkpoint_cached(a, cache=cache)[0]
    load_checkpoint_cached(b, cache=cache)
    load_checkpoint_cached(a, cache=cache)  # a is now more recent than b
    load_checkpoint_cached(c, cache=cache)  # over budget: b goes, not a
    assert loads == [a, b, c]
    assert load_checkpoint_cached(a, cache=cache)[0] is model_a
    load_checkpoint_cached(b, cache=cache)  # b really comes from disk again
    assert loads == [a, b, c, b]
    assert cache.stats()["evictions"] == 2
    assert cache.stats()["ram_bytes"] <= cache.ram_budget


def test_the_entry_being_returned_is_kept_even_over_budget(checkpoints, loads):
    cache = ModelCache(ram_budget=1)
    load_checkpoint_cached(checkpoints[0], cache=cache)
    assert cache.stats()["entries"] == 1
    load_checkpoint_cached(checkpoints[1], cache=cache)
    assert cache.stats()["entries"] == 1 and cache.stats()["evictions"] == 1
    load_checkpoint_cached(checkpoints[1], cache=cache)
    assert len(loads) == 2


def test_a_file_changed_on_disk_is_loaded_again(checkpoints, loads):
    cache = ModelCache()
    first = load_checkpoint_cached(checkpoints[2], cache=cache)[0]
    weights = next((checkpoints[2] / "unet").glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # inside the folder
    assert load_checkpoint_cached(checkpoints[2], cache=cache)[0] is not first
    assert len(loads) == 2


def test_concurrent_requests_load_once(checkpoints, loads):
    cache = ModelCache()
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(
        load_checkpoint_cached(checkpoints[0], cache=cache)[0])) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(results) == 3
    assert all(r is results[0] for r in results)


def test_entries_in_use_are_not_dropped(checkpoints, loads):
    a, b, c = checkpoints
    cache = ModelCache(ram_budget=1)
    model_a = load_checkpoint_cached(a, cache=cache)[0]
    with cache.using([model_a.unet]):
        load_checkpoint_cached(b, cache=cache)
        assert cache.stats()["entries"] == 2  # a is pinned, b is the one returned
    load_checkpoint_cached(c, cache=cache)
    assert cache.stats()["entries"] == 1 and cache.stats()["evictions"] == 2


def test_budgets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_RAM_BUDGET_GB", "0.5")
    assert ModelCache().ram_budget == default_ram_budget() == GIB // 2
    monkeypatch.setenv("STUDIO_RAM_BUDGET_GB", "lots")
    with pytest.raises(ValueError, match="STUDIO_RAM_BUDGET_GB"):
        default_ram_budget()
    monkeypatch.delenv("STUDIO_RAM_BUDGET_GB")
    assert 0 < default_ram_budget() < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class MetaStored(torch.nn.Linear):
    """A network stored on the meta device: on a CPU-only machine, the one other device to
    move between. Leaving meta allocates fresh memory (there are no values to copy)."""

    def to(self, *args, **kwargs):
        target = torch.device(args[0] if args else kwargs["device"])
        if self.weight.device.type == "meta" and target.type != "meta":
            return self.to_empty(device=target)
        return super().to(target)


def test_on_device_moves_networks_for_the_block_and_back():
    net = MetaStored(2, 3, device="meta")
    at_home = torch.nn.Linear(3, 1)
    with on_device((net, None, at_home), "cpu", cache=ModelCache()):
        assert device_of(net).type == "cpu" and device_of(at_home).type == "cpu"
        assert net(torch.ones(1, 2)).shape == (1, 3)
    assert device_of(net).type == "meta" and device_of(at_home).type == "cpu"
    with pytest.raises(RuntimeError, match="inside"), on_device(net, "cpu", cache=ModelCache()):
        raise RuntimeError("failed inside")
    assert device_of(net).type == "meta"  # put back even when the block fails


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_low_vram_and_offloading(checkpoints, loads):
    a, b = checkpoints[:2]
    low = ModelCache()
    model, clip, _ = load_checkpoint_cached(a, device="cuda", vram_mode="low", cache=low)
    assert device_of(model.unet).type == "cpu" and model.unet.dtype == torch.float16
    with on_device(clip, "cuda", cache=low):
        assert device_of(clip.text_encoder).type == "cuda"
    assert device_of(clip.text_encoder).type == "cpu"
    normal = ModelCache(vram_budget=_size(a) // 2 + 1)  # fp16: one model fits, two do not
    model_a = load_checkpoint_cached(a, device="cuda", vram_mode="normal", cache=normal)[0]
    model_b = load_checkpoint_cached(b, device="cuda", vram_mode="normal", cache=normal)[0]
    assert device_of(model_a.unet).type == "cpu" and device_of(model_b.unet).type == "cuda"
    assert normal.stats()["offloads"] == 1 and normal.stats()["evictions"] == 0
    with on_device(model_a, "cuda", cache=normal):  # a comes back; b makes room
        assert device_of(model_a.unet).type == "cuda" and device_of(model_b.unet).type == "cpu"
    assert device_of(model_a.unet).type == "cuda"  # normal mode: it stays
