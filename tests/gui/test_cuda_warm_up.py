"""The GUI warm-up starts CUDA where there is a GPU (context, cuBLAS) so the first run's first
step does not; on the CPU it does nothing. CUDA is faked by patching torch.cuda's entry
points and running the warm matmul on the CPU: the sequence is the thing under test."""

from __future__ import annotations

import gc

import pytest
import torch

from app.gui import device


@pytest.fixture()
def cuda_calls(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "init", lambda: calls.append("init"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    matmul = torch.Tensor.__matmul__

    def spy(a, b):
        calls.append(f"matmul {a.device.type} {a.dtype} {tuple(a.shape)}")
        return matmul(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", spy)
    return calls


def test_without_cuda_nothing_happens(monkeypatch, cuda_calls):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    heard: list[str] = []
    assert device.warm_cuda(heard.append)
    assert cuda_calls == [] and heard == []


def test_with_cuda_the_warm_up_starts_it_after_the_imports(monkeypatch, cuda_calls):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device, "CUDA_WARM_DEVICE", "cpu")  # no GPU here: the matmul runs
    monkeypatch.setattr(device, "_import_all",
                        lambda importlib, missing, report: report(device.LOADING_LIBRARIES))
    heard: list[str] = []
    try:
        missing = device.warm_up(heard.append)
    finally:
        gc.unfreeze()  # warm_up freezes what exists; give this test process its GC back
    assert missing == []
    assert heard == [device.LOADING_LIBRARIES, device.STARTING_CUDA]
    assert cuda_calls == ["init", "matmul cpu torch.float16 (64, 64)", "sync"]


def test_a_cuda_that_cannot_start_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def broken() -> None:
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(torch.cuda, "init", broken)
    assert not device.warm_cuda(lambda _text: None)
