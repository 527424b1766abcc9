"""The model cache and the accelerated denoiser's compiled copy: the copy's own weights (fused
QKV projections, channels_last convolutions) are counted in the cached denoiser's entry, byte
for byte, and an offload releases them (they are rebuilt on the next call).

torch.compile is the identity here (``no_inductor``) and the device is only named "cuda" for
the channels_last choice, as in test_accelerate.py; it all runs on the CPU."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.memory import cache as cache_module
from pipelines.memory import entries
from pipelines.memory.budget import GIB
from pipelines.memory.cache import ModelCache
from pipelines.memory.placement import on_device
from pipelines.speed import accelerate

_FAKE_CUDA = SimpleNamespace(type="cuda")


def _own_weights(copy: torch.nn.Module) -> list[torch.Tensor]:
    """The copy's weights that are not the original's, found by structure: the fused
    projections and the convolutions wider than 1x1 (converted to channels_last)."""
    own = []
    for module in copy.modules():
        for name in ("to_qkv", "to_kv"):
            layer = getattr(module, name, None)
            if isinstance(layer, torch.nn.Linear):
                own += [t for t in (layer.weight, layer.bias) if t is not None]
        if isinstance(module, torch.nn.Conv2d) and module.weight.shape[-1] > 1:
            own.append(module.weight)
    return own


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@torch.no_grad()
def _call(denoiser, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, generator=gen, dtype=dtype)
    context = torch.randn(1, 77, denoiser.config.cross_attention_dim, generator=gen, dtype=dtype)
    return denoiser(x, 10, encoder_hidden_states=context).sample


def _cached_and_accelerated(tiny_dir, cache: ModelCache):
    """A tiny model through ``cache`` (on the CPU), accelerated inside ``on_device`` as the
    sampler does; returns (model, accelerated model, the entry's bytes before)."""
    model = cache.get_or_load(("test", "tiny"), lambda: load_checkpoint(tiny_dir)[0], "cpu")
    before = sum(cache.used())
    with on_device(model, "cpu", cache=cache):
        fast = accelerate.accelerated(model, "compile", _FAKE_CUDA)
    return model, fast, before


def test_the_cache_counts_the_compiled_copys_own_weights(tiny_dir, no_inductor, monkeypatch):
    monkeypatch.setattr(accelerate, "compile_options", lambda mode: {})  # dynamo's limits stay
    cache = ModelCache(ram_budget=64 * GIB, vram_budget=64 * GIB)
    model, fast, before = _cached_and_accelerated(tiny_dir, cache)
    copy = fast.denoiser.copy
    own = _own_weights(copy)
    assert any(t.shape[-1] > 1 for t in own if t.dim() == 4)  # channels_last convolutions
    assert any(t.dim() == 2 for t in own)  # fused projections
    original = {t.data_ptr() for t in model.denoiser.parameters()}
    assert not any(t.data_ptr() in original for t in own)
    # exactly those bytes more: the shared weights (all the rest of the copy) count once
    assert cache.stats()["ram_bytes"] - before == _nbytes(own) > 0
    # a second mode's copy counts too; accelerating again in a mode adds nothing
    with on_device(model, "cpu", cache=cache):
        again = accelerate.accelerated(model, "compile", _FAKE_CUDA)
        fast_max = accelerate.accelerated(model, "max", _FAKE_CUDA)
    assert again.denoiser is fast.denoiser
    extra = _nbytes(own) + _nbytes(_own_weights(fast_max.denoiser.copy))
    assert cache.stats()["ram_bytes"] - before == extra


def test_an_offload_releases_the_copys_own_weights(tiny_dir, no_inductor, monkeypatch):
    """The CPU stands in for the GPU: counted as VRAM, so the budget offloads the entry (a
    move to the CPU that changes no tensor of the original). The copy's own weights are freed
    (no reference left to them), the count drops by them, and the next call rebuilds them and
    gives the same output as before."""
    monkeypatch.setattr(entries, "RAM_KINDS", ("mps",))
    monkeypatch.setattr(cache_module, "_RAM_KINDS", ("mps",))
    real_move = entries.Entry.move

    def one_move(entry: entries.Entry, device: torch.device) -> None:
        # the CPU never leaves "VRAM" here: were nothing freed, the budget would move the
        # entry again and again
        assert cache.offloads == 0, "the offload freed nothing"
        real_move(entry, device)

    monkeypatch.setattr(entries.Entry, "move", one_move)
    cache = ModelCache(ram_budget=64 * GIB, vram_budget=64 * GIB)
    model, fast, before = _cached_and_accelerated(tiny_dir, cache)
    copy = fast.denoiser.copy
    expected = _call(fast.denoiser)
    own = _own_weights(copy)
    assert cache.stats()["vram_bytes"] == before + _nbytes(own)
    refs = [weakref.ref(t) for t in own]
    del own
    cache.set_budgets(vram=before)  # no room for the copy's weights: the entry is offloaded
    gc.collect()
    assert cache.stats()["offloads"] == 1
    assert not any(ref() is not None for ref in refs)  # the old weights are gone
    assert all(t.device.type == "meta" for t in _own_weights(copy))  # placeholders, no storage
    assert cache.stats()["vram_bytes"] == before
    assert all(p.device.type == "cpu" for p in model.denoiser.parameters())  # the original stays
    assert torch.equal(_call(fast.denoiser), expected)  # rebuilt on the call, the same weights
    assert all(t.device.type == "cpu" for t in _own_weights(copy))


def test_a_released_copy_follows_a_dtype_move_of_the_original(tiny_dir, no_inductor):
    """Released, then the original moves (float64 standing in for another device): the
    next call rebuilds the copy's weights from the moved original."""
    from pipelines.memory.companions import move

    model = load_checkpoint(tiny_dir)[0]  # a private copy: this test moves it
    fast = accelerate.accelerated(model, "compile", _FAKE_CUDA)
    move(model.denoiser, torch.device("cpu"))  # what the cache does: releases the copy's
    assert all(t.device.type == "meta" for t in _own_weights(fast.denoiser.copy))
    model.denoiser.to(torch.float64)
    got = _call(fast.denoiser, torch.float64)
    own = _own_weights(fast.denoiser.copy)
    assert own and all(t.dtype == torch.float64 and t.device.type == "cpu" for t in own)
    assert got.dtype == torch.float64
    assert (got - _call(model.denoiser, torch.float64)).abs().max().item() < 1e-9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_low_vram_gives_the_copys_weights_back_after_the_block(tiny_dir, no_inductor):
    """Low VRAM: the denoiser visits the GPU for the block; its compiled copy's own weights
    built there are released when it goes back to the CPU."""
    cache = ModelCache(ram_budget=64 * GIB, vram_budget=64 * GIB)
    model = cache.get_or_load(("test", "low"), lambda: load_checkpoint(tiny_dir)[0], "cpu")
    baseline = torch.cuda.memory_allocated()
    with on_device(model, "cuda", cache=cache):
        fast = accelerate.accelerated(model, "compile", torch.device("cuda"))
        assert all(t.device.type == "cuda" for t in _own_weights(fast.denoiser.copy))
    gc.collect()
    assert all(t.device.type == "meta" for t in _own_weights(fast.denoiser.copy))
    assert torch.cuda.memory_allocated() == baseline
