"""The end-to-end GPU benchmark's smoke mode: the same code, tiny on the CPU, so it cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_e2e.py"


def test_smoke_run_prints_both_sides_for_both_families(capsys):
    spec = importlib.util.spec_from_file_location("gpu_e2e", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.main(["--smoke"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("sd15", "sdxl"))]
    assert [row[:2] for row in rows] == [["sd15", "off"], ["sdxl", "off"]]
    for row in rows:
        graph, direct, ours_rate, their_rate, previews = map(float, (row[2], row[3], row[5],
                                                                     row[6], row[8]))
        assert graph > 0 and direct > 0 and ours_rate > 0 and their_rate > 0 and previews > 0
