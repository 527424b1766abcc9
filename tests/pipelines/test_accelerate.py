"""Denoiser acceleration: compile mode gives the eager image within a small tolerance, and the
run falls back to eager with one line where compiling cannot work."""

from __future__ import annotations

import logging
import os

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
