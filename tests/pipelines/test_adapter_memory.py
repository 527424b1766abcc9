"""Adapters in the model cache's budget: IP-Adapter files are cached entries whose bytes count
against the RAM budget (and are dropped by it), ControlNets count as networks."""

from __future__ import annotations

import torch

from pipelines.memory.cache import ModelCache


def _adapter(tmp_path, tiny, name, seed):
    from transformers import CLIPVisionConfig

    from pipelines.testing.tiny_ip_adapter import (
        build_tiny_clip_vision,
        ip_adapter_state,
        save_ip_adapter,
    )

    vision = build_tiny_clip_vision(tmp_path / f"vision-{name}")
    state = ip_adapter_state(tiny[0].denoiser, CLIPVisionConfig.from_pretrained(vision),
                             "plain", seed)
    return save_ip_adapter(state, tmp_path / f"{name}.safetensors")


def _bytes(weights) -> int:
    return sum(t.numel() * t.element_size()
               for part in (weights.image_proj, weights.ip_adapter) for t in part.values())


def test_ip_adapter_weights_count_in_the_ram_budget(tiny, tmp_path):
    from pipelines.loading.cached import load_ip_adapter_cached

    first, second = _adapter(tmp_path, tiny, "a", 0), _adapter(tmp_path, tiny, "b", 1)
    cache = ModelCache(ram_budget=1 << 40, vram_budget=0)
    weights = load_ip_adapter_cached(first, cache=cache)
    assert cache.used()[0] == _bytes(weights) > 0
    assert load_ip_adapter_cached(first, cache=cache) is weights  # a hit, not a second load
    # a budget that holds one adapter: loading the second drops the first
    cache.set_budgets(ram=_bytes(weights) + 16)
    other = load_ip_adapter_cached(second, cache=cache)
    assert cache.stats()["evictions"] == 1 and cache.used()[0] == _bytes(other)
    assert load_ip_adapter_cached(first, cache=cache) is not weights


def test_controlnet_weights_count_in_the_ram_budget(tiny_dir, tmp_path):
    from pipelines.loading.cached import load_controlnet_cached
    from pipelines.testing.tiny_control import build_tiny_controlnet

    folder = build_tiny_controlnet(tiny_dir, tmp_path / "cn")
    cache = ModelCache(ram_budget=1 << 40, vram_budget=0)
    control = load_controlnet_cached(folder, cache=cache)
    size = sum(t.numel() * t.element_size() for t in control.network.state_dict().values())
    assert cache.used()[0] == size
    assert torch.equal(next(control.network.parameters()),
                       next(load_controlnet_cached(folder, cache=cache).network.parameters()))
