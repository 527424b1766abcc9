"""The GPU benchmark's smoke mode: the script runs, and both sides compute the same latents."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"


def test_smoke_run_compares_equal_work(capsys):
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    module.main(["--smoke", "--steps", "2"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("SD1.5", "SDXL"))]
    assert [row[0] for row in rows] == ["SD1.5", "SDXL"]
    for row in rows:
        ours, theirs, difference = float(row[4]), float(row[5]), float(row[7])
        assert ours > 0 and theirs > 0
        assert difference < 1e-5  # same UNet, embeddings and seed: the same final latents
