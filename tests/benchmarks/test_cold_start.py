"""The cold-start benchmark's runs take the device option (cpu here: the same command with
``--device cuda`` is the CUDA profile), and asking for CUDA where there is none says so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cold_start.py"


@pytest.fixture(scope="module")
def cold_start():
    spec = importlib.util.spec_from_file_location("cold_start", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_cold_run_on_the_requested_device_reaches_its_first_step(cold_start, tmp_path):
    first, total, cpu = cold_start.time_run(cold_start.ROOT, False, tmp_path, 2, device="cpu")
    assert 0 < first <= total and cpu > 0
    assert list(tmp_path.glob("*.png"))  # the run finished and saved its image


def test_cuda_without_a_gpu_stops_before_timing(cold_start, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="no CUDA GPU"):
        cold_start.main(["--smoke", "--device", "cuda"])
    with pytest.raises(SystemExit):  # argparse: only cpu or cuda
        cold_start.main(["--device", "tpu"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks that the device reaches the run")
def test_the_device_reaches_the_run(cold_start, tmp_path):
    with pytest.raises(SystemExit, match="run failed.*cuda"):  # main.py run says: no CUDA
        cold_start.time_run(cold_start.ROOT, False, tmp_path, 2, device="cuda")
