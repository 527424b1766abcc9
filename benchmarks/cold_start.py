"""Cold start, measured side by side in one run: fresh processes, interleaved, medians.

For each variant (this tree with its lazy diffusers imports; the same tree with
``STUDIO_EAGER_IMPORTS=1``; optionally another checkout given with ``--other``, e.g. the main
branch) it times, in new interpreter processes:

- ``import``: ``python -c "<import the modules a run uses>"`` (the GUI warm-up's list),
- ``run``: ``main.py run resources/workflows/default.json`` -- wall time to the first
  sampling step (read from a spy on the CLI's progress printer) and to the process' exit.

Run: .venv/bin/python benchmarks/cold_start.py [--reps 5] [--other /path/to/checkout]
     [--device cpu|cuda] [--smoke]  (one rep, 2 steps: checks the script itself)
The CUDA cold-start profile: ``benchmarks/cold_start.py --device cuda`` (the runs' first step
then includes creating the CUDA context and moving the model to the GPU).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IMPORT_CODE = (
    "from app.gui.device import WARM_CLASSES, WARM_MODULES\n"
    "import importlib\n"
    "for name in WARM_MODULES: importlib.import_module(name)\n"
    "for lib, names in WARM_CLASSES:\n"
    "    module = importlib.import_module(lib)\n"
    "    for name in names: getattr(module, name)\n"
    "import sys; print('@@MODULES', len(sys.modules))\n"
)
# main.py run, with a spy printing the wall clock of the first sampling step.
RUN_CODE = (
    "import sys, time, runpy\n"
    "from app.cli import progress\n"
    "from node_api.events import StepProgress\n"
    "_call = progress.ProgressPrinter.__call__\n"
    "def spy(self, event, _seen=[]):\n"
    "    if isinstance(event, StepProgress) and not _seen:\n"
    "        _seen.append(1); print('@@FIRST_STEP', time.time(), flush=True)\n"
    "    return _call(self, event)\n"
    "progress.ProgressPrinter.__call__ = spy\n"
    "sys.argv = ['main.py'] + sys.argv[1:]\n"
    "runpy.run_path('main.py', run_name='__main__')\n"
)


def child_env(eager: bool) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("STUDIO_EAGER_IMPORTS", None)
    if eager:
        env["STUDIO_EAGER_IMPORTS"] = "1"
    return env


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far: unlike the wall
    clock, barely stretched by other work on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_import(tree: Path, eager: bool) -> tuple[float, int, float]:
    t0, cpu0 = time.time(), children_cpu()
    out = subprocess.run([sys.executable, "-c", IMPORT_CODE], cwd=tree, env=child_env(eager),
                         capture_output=True, text=True, check=True).stdout
    wall = time.time() - t0
    modules = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("@@"))
    return wall, modules, children_cpu() - cpu0


def time_run(tree: Path, eager: bool, out: Path, steps: int | None, device: str = "cpu"
             ) -> tuple[float, float, float]:
    extra = ["--set", f"6.steps={steps}"] if steps else []
    cmd = [sys.executable, "-c", RUN_CODE, "run", "resources/workflows/default.json",
           "--out", str(out), "--quiet", "--device", device, *extra]
    t0, cpu0 = time.time(), children_cpu()
    done = subprocess.run(cmd, cwd=tree, env=child_env(eager), capture_output=True, text=True)
    total, cpu = time.time() - t0, children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"run failed in {tree}: {done.stderr.strip()[-500:]}")
    first = next(float(line.split()[1]) for line in done.stdout.splitlines()
                 if line.startswith("@@FIRST_STEP"))
    return first - t0, total, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--other", type=Path, default=None,
                        help="another checkout to compare (its own code, this interpreter)")
    parser.add_argument("--smoke", action="store_true", help="one rep, 2 steps")
    parser.add_argument("--import-only", action="store_true", help="skip the runs")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="the device of the runs (cuda: the CUDA cold start)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not args.import_only:
        import torch  # this process is not timed

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA GPU here")
    reps, steps = (1, 2) if args.smoke else (args.reps, None)
    variants: list[tuple[str, Path, bool]] = [("this tree, lazy imports", ROOT, False),
                                              ("this tree, STUDIO_EAGER_IMPORTS=1", ROOT, True)]
    if args.other is not None:
        variants.append((f"other: {args.other}", args.other.resolve(), False))
    results: dict[str, dict[str, list[float]]] = {
        name: {"import": [], "modules": [], "import_cpu": [], "first": [], "total": [],
               "run_cpu": []} for name, _, _ in variants}
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        for rep in range(reps):  # interleaved, so a busy moment hits every variant alike
            for name, tree, eager in variants:
                wall, modules, import_cpu = time_import(tree, eager)
                first, total, run_cpu = (
                    time_run(tree, eager, Path(tmp) / f"{rep}", steps, args.device)
                    if not args.import_only else (0.0, 0.0, 0.0))
                row = results[name]
                for key, value in (("import", wall), ("modules", modules),
                                   ("import_cpu", import_cpu), ("first", first),
                                   ("total", total), ("run_cpu", run_cpu)):
                    row[key].append(value)
                print(f"rep {rep + 1}/{reps} {name}: import {wall:.2f} s, first step "
                      f"{first:.2f} s, total {total:.2f} s", file=sys.stderr, flush=True)
    med = statistics.median
    base = results[variants[1][0]]
    print(f"cold start on {args.device}, {reps} reps, medians (load {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} cpus)")
    columns = (("modules", "modules", 0), ("import", "import s", 2),
               ("import_cpu", "import cpu s", 2), ("first", "run: 1st step s", 2),
               ("total", "run: total s", 2), ("run_cpu", "run: cpu s", 2))
    print(f"{'variant':<36}" + "".join(f" {title:>15}" for _, title, _ in columns))
    for name, _, _ in variants:
        row = results[name]
        print(f"{name:<36}" + "".join(f" {med(row[key]):>15.{digits}f}"
                                      for key, _, digits in columns))
    lazy = results[variants[0][0]]
    print(f"{'lazy / eager':<36}" + "".join(
        f" {med(lazy[key]) / med(base[key]) if med(base[key]) else 0.0:>15.3f}"
        for key, _, _ in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
