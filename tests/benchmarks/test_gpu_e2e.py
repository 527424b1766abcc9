"""The end-to-end GPU benchmark's smoke mode: the same code, tiny on the CPU, so it cannot rot:
both families, modes off and compile (torch.compile stubbed, our acceleration path real), and
a cold launch of the default workflow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from pipelines.speed import accelerate

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_e2e.py"


def test_smoke_run_prints_both_sides_for_both_families_and_modes(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_e2e", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    denoisers: list[object] = []
    accelerated = accelerate.accelerated

    def spy(model, mode, device, **options):
        result = accelerated(model, mode, device, **options)
        denoisers.append(result.denoiser)
        return result

    monkeypatch.setattr(accelerate, "accelerated", spy)
    module.main(["--smoke"])
    out = capsys.readouterr().out
    assert "fp32" in out.splitlines()[0]  # our precision is the script's dtype
    rows = [line.split() for line in out.splitlines() if line.startswith(("sd15", "sdxl"))]
    assert [row[:2] for row in rows] == [["sd15", "off"], ["sd15", "compile"],
                                         ["sdxl", "off"], ["sdxl", "compile"]]
    for row in rows:
        graph, direct, ours_rate, their_rate = map(float, (row[2], row[3], row[5], row[6]))
        assert graph > 0 and direct > 0 and ours_rate > 0 and their_rate > 0
        if row[1] == "off":
            assert float(row[8]) > 0  # previews on / off
    # the compile rows ran our accelerated denoiser (not a fallback), then the stub went away
    assert any(isinstance(d, accelerate.CompiledDenoiser) for d in denoisers)
    assert torch.compile.__name__ == "compile" and accelerate.unavailable.__name__ == "unavailable"
    cold = next(line for line in out.splitlines() if line.startswith("cold"))
    assert float(cold.split(":")[1].split()[0]) > 0
