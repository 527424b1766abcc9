"""Denoiser acceleration: compile mode gives the eager image within a small tolerance, and the
run falls back to eager with one line where compiling cannot work."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest
import torch

from pipelines.sampling.denoise import denoise
from pipelines.speed import accelerate
from pipelines.values import Latent, Noise


def _sample(model, prompts):
    positive, negative = prompts
    return denoise(model, positive, negative, Latent(torch.zeros(1, 4, 8, 8)), Noise(3),
                   steps=3, cfg=7.5).samples


@pytest.mark.skipif(not os.environ.get("STUDIO_SLOW_TESTS"),
                    reason="inductor compiles for minutes on a small CPU (5 min on 2 busy "
                    "cores); STUDIO_SLOW_TESTS=1 runs it")
def test_compile_mode_gives_the_same_image(tiny, prompts, tmp_path, monkeypatch):
    if accelerate.unavailable(torch.device("cpu")) is not None:
        pytest.skip("no C++ compiler for inductor here")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    model, _, _ = tiny
    eager = _sample(model, prompts)
    fast = accelerate.accelerated(model, "compile", torch.device("cpu"))
    assert isinstance(fast.denoiser, accelerate.CompiledDenoiser)
    assert fast.denoiser.config is model.denoiser.config  # the original answers the rest
    compiled = _sample(fast, prompts)
    assert (compiled - eager).abs().max().item() < 1e-3
    # kept for the process: the same denoiser is not compiled twice
    assert accelerate.accelerated(model, "compile", torch.device("cpu")).denoiser is fast.denoiser
    assert any((tmp_path / "inductor").iterdir())  # kernels cached on disk for the next launch


def test_off_is_the_model_itself(tiny):
    model, _, _ = tiny
    assert accelerate.accelerated(model, "off", torch.device("cpu")) is model
    with pytest.raises(ValueError, match="off, compile, max"):
        accelerate.accelerated(model, "fast", torch.device("cpu"))


def test_falls_back_with_one_line_where_compiling_cannot_work(tiny, monkeypatch, caplog):
    model, _, _ = tiny
    monkeypatch.setattr(accelerate.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING):
        same = accelerate.accelerated(model, "max", torch.device("cpu"))
    assert same is model
    assert "no C++ compiler" in caplog.text and "running without it" in caplog.text
    assert accelerate.unavailable(torch.device("mps")) is not None


def _conv_weights(net):
    return {name: m.weight for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}


def test_channels_last_goes_to_the_compiled_copy_not_the_cached_denoiser(tiny_dir, prompts,
                                                                         no_inductor):
    """On CUDA the compiled copy gets channels_last convolutions; the shared cached denoiser
    keeps its layout, so a later "off" run is the eager run as loaded. The device is only
    named "cuda" here (the layout choice is the thing under test; it runs on the CPU)."""
    from pipelines.loading.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_dir)[0]  # a private copy: its compiled modules stay with it
    original = _conv_weights(model.denoiser)
    before = {name: (w.data_ptr(), w.stride()) for name, w in original.items()}
    eager = _sample(model, prompts)
    fast = accelerate.accelerated(model, "compile", SimpleNamespace(type="cuda"))
    after = _conv_weights(model.denoiser)
    assert {name: (w.data_ptr(), w.stride()) for name, w in after.items()} == before
    assert all(w.is_contiguous() for w in after.values())
    copy = _conv_weights(fast.denoiser.copy)
    spatial = [name for name, w in copy.items() if w.shape[-1] > 1]
    assert spatial and all(copy[name].is_contiguous(memory_format=torch.channels_last)
                           and not copy[name].is_contiguous() for name in spatial)
    assert all(copy[name].data_ptr() != original[name].data_ptr() for name in spatial)
    assert (_sample(fast, prompts) - eager).abs().max().item() < 1e-4
    off = accelerate.accelerated(model, "off", torch.device("cpu"))
    assert off is model and torch.equal(_sample(off, prompts), eager)


def test_channels_last_copies_follow_a_move_of_the_original(tiny_dir, no_inductor):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.speed.channels_last import refresh

    model, _, _ = load_checkpoint(tiny_dir)  # a private copy: this test moves it
    fast = accelerate.accelerated(model, "compile", SimpleNamespace(type="cuda"))
    copy = fast.denoiser.copy
    assert not refresh(copy)
    model.denoiser.to(torch.float64)
    assert refresh(copy)
    weights = [w for w in _conv_weights(copy).values() if w.shape[-1] > 1]
    assert all(w.dtype == torch.float64 and w.is_contiguous(memory_format=torch.channels_last)
               for w in weights)
    assert all(w.is_contiguous() for w in _conv_weights(model.denoiser).values())


def test_max_compiles_for_static_shapes_with_room_to_recompile(tiny_dir, monkeypatch):
    """The arguments our modes give torch.compile (the compiler itself is stubbed: what is
    tested is our choice), and max raising dynamo's recompile limit."""
    import torch._dynamo.config as dynamo

    limit = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
    monkeypatch.setattr(dynamo, limit, 8)
    calls: list[dict] = []
    monkeypatch.setattr(torch, "compile", lambda module, **options: calls.append(options)
                        or module)
    monkeypatch.setattr(accelerate, "unavailable", lambda device: None)
    from pipelines.loading.checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(tiny_dir)  # not compiled in any mode yet
    accelerate.accelerated(model, "compile", torch.device("cpu"))
    assert getattr(dynamo, limit) == 8
    accelerate.accelerated(model, "max", torch.device("cpu"))
    assert calls[0].get("dynamic") is None and calls[0].get("mode") is None
    assert calls[1]["mode"] == "max-autotune" and calls[1]["dynamic"] is False
    assert getattr(dynamo, limit) >= accelerate.RECOMPILE_LIMIT > 8
