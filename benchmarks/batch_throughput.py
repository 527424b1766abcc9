"""Batch throughput: one ``main.py batch`` of N jobs vs N separate ``main.py run`` calls,
and (when Ray is installed) the local batch vs the same batch on 2 Ray workers.

Every side uses the same tiny model, workflow, seeds (1..N), steps and size; the batch
keeps the model loaded and the prompt encodings cached across jobs, each separate run
pays for Python start-up, imports and model loading again. The Ray batch
(``--cluster local --workers 2``) starts a local Ray instance and 2 workers, each
loading the model once; its images must be byte-identical to the local batch's.

Run: .venv/bin/python benchmarks/batch_throughput.py [--jobs 20] [--steps 4] [--size 32]
     [--no-runs] [--no-ray]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
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
    from pipelines.testing.tiny import build_tiny_sd
    from tests.nodes.conftest import txt2img_graph

    checkpoint = build_tiny_sd(folder / "tiny-sd")
    graph = txt2img_graph(default_registry(), checkpoint, steps=steps, size=size)
    return save_workflow(graph, folder / "workflow.json")


def main_py(*args: str) -> float:
    return main_py_timed(*args)[0]


def main_py_timed(*args: str) -> tuple[float, float]:
    """Wall seconds of the whole command, and the seconds its summary says the jobs took."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"main.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    jobs = re.search(r"in all; ([\d.]+) s,", done.stdout)
    return time.perf_counter() - started, float(jobs.group(1)) if jobs else float("nan")


def compare_ray(workflow: Path, base: Path, jobs: int) -> None:
    """Print the local batch vs the same batch on 2 Ray workers, run one after the other."""
    sweep = ("--sweep", f"Noise.seed=1..{jobs}", "--device", "cpu", "-q")
    local_s, local_jobs = main_py_timed("batch", str(workflow), *sweep,
                                        "--out", str(base / "ray-local"))
    ray_s, ray_jobs = main_py_timed("batch", str(workflow), *sweep, "--out", str(base / "ray"),
                                    "--cluster", "local", "--workers", "2")
    local_pngs = sorted((base / "ray-local").glob("*.png"))
    same = all((base / "ray" / p.name).read_bytes() == p.read_bytes() for p in local_pngs)
    print(f"\n{jobs} jobs: local batch vs Ray on 2 workers (--cluster local --workers 2)")
    print(f"{'':<28} {'local':>10} {'ray x2':>10}")
    print(f"{'total seconds':<28} {local_s:>10.2f} {ray_s:>10.2f}")
    print(f"{'jobs phase seconds':<28} {local_jobs:>10.2f} {ray_jobs:>10.2f}")
    print(f"images byte-identical: {same} ({len(local_pngs)} images)")
    print(f"ratio (local / ray x2): total {local_s / ray_s:.2f}x, "
          f"jobs phase {local_jobs / ray_jobs:.2f}x  (CPUs here: {os.cpu_count()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--no-runs", action="store_true", help="skip the N separate runs")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        workflow = build_workflow(base, args.steps, args.size)
        if not args.no_runs:
            batch_vs_runs(workflow, base, args)
        if args.no_ray:
            return
        if importlib.util.find_spec("ray") is None:
            print("\nRay comparison skipped: pip install '.[cluster]'")
            return
        compare_ray(workflow, base, args.jobs)


def batch_vs_runs(workflow: Path, base: Path, args: argparse.Namespace) -> None:
    """Print one batch of N jobs vs N separate runs."""
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
