"""Batch throughput: one ``main.py batch`` of N jobs vs N separate ``main.py run`` calls.

Both sides use the same tiny model, workflow, seeds (1..N), steps and size; the batch
keeps the model loaded and the prompt encodings cached across jobs, each separate run
pays for Python start-up, imports and model loading again.

Run: .venv/bin/python benchmarks/batch_throughput.py [--jobs 20] [--steps 4] [--size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"


def build_workflow(folder: Path, steps: int, size: int) -> Path:
    from app.engine.registry import default_registry
    from app.engine.workflow import save_workflow
    from pipelines.tiny import build_tiny_sd
    from tests.nodes.conftest import txt2img_graph

    checkpoint = build_tiny_sd(folder / "tiny-sd")
    graph = txt2img_graph(default_registry(), checkpoint, steps=steps, size=size)
    return save_workflow(graph, folder / "workflow.json")


def main_py(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"main.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        workflow = build_workflow(base, args.steps, args.size)
        batch_s = main_py("batch", str(workflow), "--sweep", f"Noise.seed=1..{args.jobs}",
                          "--out", str(base / "batch"), "--device", "cpu", "-q")
        records = [json.loads(line) for line in
                   (base / "batch" / "manifest.jsonl").read_text().splitlines()]
        runs = [main_py("run", str(workflow), "--set", f"Noise.seed={seed}", "--out",
                        str(base / "runs"), "--device", "cpu", "--quiet", "--no-previews")
                for seed in range(1, args.jobs + 1)]
        n_batch = len(list((base / "batch").glob("*.png")))
        n_runs = len(list((base / "runs").glob("*.png")))
    runs_s = sum(runs)
    job_times = [r["seconds"] for r in records]
    print(f"{args.jobs} jobs, tiny SD model, {args.steps} steps, {args.size}x{args.size}, cpu")
    print(f"{'':<28} {'batch':>10} {'separate runs':>14}")
    print(f"{'total seconds':<28} {batch_s:>10.2f} {runs_s:>14.2f}")
    print(f"{'seconds per image':<28} {batch_s / args.jobs:>10.2f} {runs_s / args.jobs:>14.2f}")
    print(f"{'images written':<28} {n_batch:>10d} {n_runs:>14d}")
    print(f"batch: first job {job_times[0]:.2f} s (loads the model), later jobs "
          f"{sum(job_times[1:]) / max(1, len(job_times) - 1):.2f} s on average")
    print(f"ratio (separate runs / batch): {runs_s / batch_s:.1f}x")


if __name__ == "__main__":
    main()
