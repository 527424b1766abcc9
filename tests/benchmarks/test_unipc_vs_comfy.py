"""The UniPC comparison with ComfyUI's solver runs, its reference reproduces our UniPC (which
checks the reference), and ours stays within 2% of ComfyUI's on the toy data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "unipc_vs_comfy.py"


def test_reference_reproduces_ours_and_comfy_is_close(capsys):
    spec = importlib.util.spec_from_file_location("unipc_vs_comfy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    rows = module.main()
    assert len(rows) == 8 and "ours vs ComfyUI" in capsys.readouterr().out
    for _, _, same_start, own_start, check in rows:
        assert check <= 1e-5  # float32 diffusers vs the float64 reference
        assert 0 < same_start < 0.02 and 0 < own_start < 0.02
