"""The model cache: hits skip the disk, budgets in real bytes evict the least recently used
entry, changed files reload, entries in use stay, and networks are placed and put back."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from pipelines.loading import checkpoint as loading
from pipelines.loading.cached import _where, load_checkpoint_cached
from pipelines.memory.budget import GIB, default_ram_budget
from pipelines.memory.cache import ModelCache
from pipelines.memory.keys import file_fingerprint, model_key
from pipelines.memory.networks import device_of, networks_of, tensor_bytes
from pipelines.memory.placement import on_device
from pipelines.memory.precision import checkpoint_dtypes, dtype_names
from pipelines.testing.tiny import build_tiny_sd

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
    assert half[0].denoiser.dtype == torch.float16 and first[0].denoiser.dtype == torch.float32
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
    with cache.using([model_a.denoiser]):
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
    for value in ("inf", "nan", "1e400", "-inf"):  # not finite: a clear error, not a crash
        monkeypatch.setenv("STUDIO_RAM_BUDGET_GB", value)
        with pytest.raises(ValueError, match=f"STUDIO_RAM_BUDGET_GB='{value}' must be"):
            default_ram_budget()
    monkeypatch.delenv("STUDIO_RAM_BUDGET_GB")
    assert 0 < default_ram_budget() < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_a_folder_file_replaced_by_an_older_one_of_the_same_size_is_a_change(tmp_path):
    folder, elsewhere = tmp_path / "model", tmp_path / "download"
    (folder / "unet").mkdir(parents=True)
    elsewhere.mkdir()
    (folder / "unet" / "w.safetensors").write_bytes(b"a" * 64)
    (folder / "model_index.json").write_bytes(b"{}")
    replacement = elsewhere / "w.safetensors"
    replacement.write_bytes(b"b" * 64)
    newest = (folder / "model_index.json").stat().st_mtime_ns
    os.utime(replacement, ns=(newest - 10**12, newest - 10**12))  # older, as cp -p keeps it
    before = model_key("checkpoint", folder, "cpu")
    os.replace(replacement, folder / "unet" / "w.safetensors")
    assert model_key("checkpoint", folder, "cpu") != before
    assert file_fingerprint(folder) == file_fingerprint(folder)  # stable while nothing changes


def test_a_vae_converted_to_fp32_in_use_is_not_served_for_fp16(checkpoints, loads):
    from pipelines.sampling.vae import decode
    from pipelines.values import Latent

    cache = ModelCache()
    _, _, vae = load_checkpoint_cached(checkpoints[0], vae_precision="fp16", cache=cache)
    fp16_bytes = cache.stats()["ram_bytes"]
    with on_device(vae, "cpu", cache=cache):  # what the decode node does
        decode(vae, Latent(samples=torch.full((1, 4, 8, 8), 3e5)), tiling="never")  # overflows
    assert vae.vae.dtype == torch.float32  # vae.py converted it in place
    # the entry no longer matches its key: dropped, so its (grown) bytes are not miscounted
    assert cache.stats()["entries"] == 0 and cache.stats()["ram_bytes"] == 0
    again = load_checkpoint_cached(checkpoints[0], vae_precision="fp16", cache=cache)[2]
    assert again is not vae and again.vae.dtype == torch.float16
    assert len(loads) == 2 and cache.stats()["ram_bytes"] == fp16_bytes


def test_a_hit_checks_the_dtypes_too(checkpoints, loads):
    cache = ModelCache()
    vae = load_checkpoint_cached(checkpoints[0], vae_precision="fp16", cache=cache)[2]
    vae.vae.to(torch.float32)  # converted outside any ``using`` block
    assert load_checkpoint_cached(checkpoints[0], vae_precision="fp16",
                                  cache=cache)[2].vae.dtype == torch.float16
    assert len(loads) == 2


def test_auto_reuses_a_cpu_copy_only_where_low_vram_could_have_chosen_it(checkpoints):
    cache = ModelCache()
    load_checkpoint_cached(checkpoints[0], device="cpu", cache=cache)  # an earlier CPU run
    extra = dtype_names(checkpoint_dtypes(checkpoints[0], "cpu"))  # fp32 everywhere
    where = {device: _where("checkpoint", checkpoints[0], device, "auto", lambda: 0, cache,
                            extra)[0] for device in ("mps", "cuda")}
    # MPS never runs models stored on the CPU; CUDA's low-VRAM form is exactly that copy
    assert where == {"mps": "mps", "cuda": "cpu"}


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
    assert device_of(model.denoiser).type == "cpu" and model.denoiser.dtype == torch.float16
    with on_device(clip, "cuda", cache=low):
        assert device_of(clip.text_encoder).type == "cuda"
    assert device_of(clip.text_encoder).type == "cpu"
    normal = ModelCache(vram_budget=_size(a) // 2 + 1)  # fp16: one model fits, two do not
    model_a = load_checkpoint_cached(a, device="cuda", vram_mode="normal", cache=normal)[0]
    model_b = load_checkpoint_cached(b, device="cuda", vram_mode="normal", cache=normal)[0]
    assert device_of(model_a.denoiser).type == "cpu" and device_of(model_b.denoiser).type == "cuda"
    assert normal.stats()["offloads"] == 1 and normal.stats()["evictions"] == 0
    with on_device(model_a, "cuda", cache=normal):  # a comes back; b makes room
        assert device_of(model_a.denoiser).type == "cuda" and device_of(model_b.denoiser).type == "cpu"
    assert device_of(model_a.denoiser).type == "cuda"  # normal mode: it stays
