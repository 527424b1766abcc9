"""``main.py models`` names Kandinsky 2.2 prior and decoder folders and Karlo folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_models_lists_kandinsky_folders(tmp_path):
    from pipelines.testing.tiny_kandinsky import build_tiny_decoder, build_tiny_prior
    from pipelines.testing.tiny_karlo import build_tiny_karlo

    checkpoints = tmp_path / "models" / "checkpoints"
    build_tiny_prior(checkpoints / "kandinsky-2-2-prior")
    build_tiny_decoder(checkpoints / "kandinsky-2-2-decoder")
    build_tiny_karlo(checkpoints / "karlo-v1-alpha")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STUDIO_MODELS": str(tmp_path / "models"),
           "STUDIO_MODELS_CONFIG": str(tmp_path / "none.toml")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "models"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if "kandinsky-" in line or "karlo" in line}
    assert "diffusers kandinsky22_prior" in lines["kandinsky-2-2-prior"]
    assert "diffusers kandinsky22 " in lines["kandinsky-2-2-decoder"] + " "
    assert "diffusers karlo (unCLIP cascade: load it with Load unCLIP)" in lines["karlo-v1-alpha"]
