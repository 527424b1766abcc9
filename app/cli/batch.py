"""``main.py batch``: sweeps and job files over one workflow, with resume and a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_memory_options,
    cancel_on_interrupt,
    error,
    load_graph,
    memory_options,
)
from app.cli.speed import add_speed_options, speed_options


def add_parser(sub: Any) -> None:
    """Declare the ``batch`` subcommand on the subparsers ``sub``."""
    batch = sub.add_parser(
        "batch", help="run a workflow many times: sweeps (--sweep) and/or a job file (--jobs)",
        description="SPEC is a,b,c | 1..100 | 0.5..1.0:0.1 | @file.txt (one value per line). "
        "Sweeps combine as a cartesian product, or element-wise with --zip; each line of a "
        "job file is combined with every sweep combination. Re-running into the same --out "
        "folder resumes: jobs recorded ok in manifest.jsonl are skipped.",
    )
    batch.add_argument("workflow", type=Path)
    batch.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="NODE.FIELD=VALUE", help="change a value for every job")
    batch.add_argument("--sweep", action="append", default=[], metavar="NODE.FIELD=SPEC",
                       help="values to sweep (repeatable)")
    batch.add_argument("--jobs", type=Path, metavar="FILE.jsonl|FILE.csv",
                       help="one set of overrides per line (jsonl) or row (csv)")
    batch.add_argument("--zip", action="store_true",
                       help="combine sweeps element-wise instead of every combination")
    batch.add_argument("--out", type=Path, default=Path("output") / "batch",
                       help="output folder (holds manifest.jsonl)")
    batch.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    batch.add_argument("--previews", action="store_true", help="compute step previews")
    batch.add_argument("--cluster", metavar="ray://HOST:PORT|auto|local",
                       help="spread jobs over a Ray cluster: one worker per GPU (else per "
                       "CPU) keeps the models loaded; `local` starts one on this machine "
                       "(pip install .[cluster])")
    batch.add_argument("--workers", type=int, metavar="N",
                       help="with --cluster: use at most N workers")
    batch.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_memory_options(batch)
    add_speed_options(batch)


class BatchProgress:
    """An overall bar over jobs (with ETA) and the current job's step bar, on stderr."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        self.quiet = quiet
        self._steps: Any = None
        self._overall: Any = None
        if not quiet:
            from tqdm import tqdm

            self._overall = tqdm(total=total, initial=done, desc="batch", unit="job",
                                 file=sys.stderr, position=0, leave=True)

    def job_started(self, job: Any) -> None:
        if self._overall is not None:
            self._overall.set_postfix_str(f"job {job.index}")

    def job_finished(self, record: dict[str, Any]) -> None:
        self._close_steps()
        if self._overall is not None:
            self._overall.update(1)
            if record["status"] == "failed":
                self._overall.write(f"job {record['index']} failed: {record['error']}",
                                    file=sys.stderr)

    def __call__(self, event: Any) -> None:
        from node_api.events import StepProgress

        if self.quiet or not isinstance(event, StepProgress):
            return
        if self._steps is None or self._steps.total != event.total:
            from tqdm import tqdm

            self._close_steps()
            self._steps = tqdm(total=event.total, desc="  sampling", unit="step",
                               file=sys.stderr, position=1, leave=False)
        self._steps.n = event.step
        self._steps.refresh()

    def close(self) -> None:
        self._close_steps()
        if self._overall is not None:
            self._overall.close()

    def _close_steps(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None


def command(args: argparse.Namespace) -> int:
    from app.batch.runner import (
        BatchError,
        BatchRunner,
        expand_jobs,
        make_jobs,
        parse_sweep,
        read_job_file,
    )
    from app.engine.devices import resolve_device
    from app.engine.registry import default_registry
    from node_api.context import RunOptions

    if args.cluster:
        try:
            import ray  # noqa: F401
        except ImportError:
            error("--cluster needs Ray, which is not installed: pip install '.[cluster]'")
            return EXIT_INVALID
    if args.workers is not None and (args.workers < 1 or not args.cluster):
        error("--workers N needs --cluster and N of at least 1")
        return EXIT_INVALID
    registry = default_registry()
    graph = load_graph(args.workflow, args.overrides, registry)
    if graph is None:
        return EXIT_INVALID
    connected = False
    try:
        sweeps = [parse_sweep(text) for text in args.sweep]
        rows = read_job_file(args.jobs) if args.jobs else None
        jobs = make_jobs(graph, registry, expand_jobs(sweeps, rows, args.zip))
        if args.cluster:
            from app.batch.ray_runner import RayBatchRunner, connect

            # each worker resolves `auto` to its own device
            options = RunOptions(device=args.device, previews=args.previews,
                                 **memory_options(args), **speed_options(args))
            runner = RayBatchRunner(graph, registry, jobs, args.out, options,
                                    workers=args.workers)
            todo, skipped = runner.pending()  # a wrong folder is refused before Ray starts
            if todo:
                connected = connect(args.cluster, num_cpus=args.workers, quiet=args.quiet)
        else:
            options = RunOptions(device=resolve_device(args.device), previews=args.previews,
                                 **memory_options(args), **speed_options(args))
            runner = BatchRunner(graph, registry, jobs, args.out, options)
            todo, skipped = runner.pending()
    except (BatchError, ValueError) as exc:
        error(f"{args.workflow}: {exc}")
        return EXIT_INVALID
    try:
        return _run_batch(args, runner, len(jobs), skipped)
    finally:
        if connected:
            from app.batch.ray_runner import disconnect

            disconnect()


def _run_batch(args: argparse.Namespace, runner: Any, total: int, skipped: list[int]) -> int:
    """Run the pending jobs with progress bars and Ctrl+C handling; returns the exit code."""
    from app.batch.runner import BatchError

    if skipped:
        print(f"resuming: {len(skipped)} of {total} job(s) already done in {args.out}",
              file=sys.stderr)
    progress = BatchProgress(total, len(skipped), args.quiet)
    try:
        with cancel_on_interrupt() as cancel:
            result = runner.run(cancel, [progress], progress.job_started, progress.job_finished)
    except BatchError as exc:
        error(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    finally:
        progress.close()
    print(summary(result, runner.manifest.path))
    if result.cancelled:
        error(f"cancelled; run the same command again to resume ({args.out})")
        return EXIT_CANCELLED
    if result.failed:
        error(f"{len(result.failed)} job(s) failed; see {runner.manifest.path}")
        return EXIT_FAILED
    return EXIT_OK


def summary(result: Any, manifest: Path) -> str:
    """Per-job status, time and files, then the totals."""
    lines = [f"{'job':>5}  {'status':<9} {'seconds':>8}  files"]
    for record in result.records:
        problem = (record["error"] or record["status"]).strip().splitlines()
        files = ", ".join(record["files"]) or (problem[-1].strip()[:80] if problem else "")
        lines.append(f"{record['index']:>5}  {record['status']:<9} "
                     f"{record['seconds']:>8.2f}  {files}")
    ran = [r for r in result.records if r["status"] != "cancelled"]
    mean = sum(r["seconds"] for r in ran) / len(ran) if ran else 0.0
    lines.append(
        f"{len(result.ok)} ok, {len(result.failed)} failed, {len(result.skipped)} skipped "
        f"(already done), {result.total} in all; {result.seconds:.2f} s, "
        f"{mean:.2f} s per job; manifest {manifest}"
    )
    return "\n".join(lines)
