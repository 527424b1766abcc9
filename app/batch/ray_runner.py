"""Batch runs spread over a Ray cluster (``batch --cluster``).

One long-lived actor per GPU (or per CPU slot) holds ONE Executor, so each worker loads
the models once and keeps them for every job it gets. A worker runs a job with the same
``run_job`` as a local batch, into a private temporary folder, and sends back the record
and the bytes of the files it wrote; the driver writes them into the batch folder and
appends the manifest line, so naming, manifest and resume are those of a local batch.

Ray is optional (``pip install .[cluster]``): it is imported inside functions only.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.batch.runner import BatchError, BatchResult, BatchRunner, Job, new_record, run_job
from app.engine.devices import resolve_device
from node_api.context import CancelToken, RunOptions
from node_api.events import Listener, RunFinished

POLL_S = 0.2  # how often the driver looks at the cancel flag while jobs run
CANCEL_WAIT_S = 60.0  # how long cancelled jobs get to stop at their next step
# environment variables a worker needs to keep to the same model-cache budgets as the driver
_BUDGET_VARIABLES = ("STUDIO_RAM_BUDGET_GB", "STUDIO_VRAM_BUDGET_GB")


def connect(address: str, num_cpus: int | None = None, quiet: bool = False) -> bool:
    """Join (``auto``, ``ray://HOST:PORT``) or start (``local``) a Ray cluster.

    Returns:
        True when this call connected (the caller then shuts Ray down), False when Ray
        was already initialised in this process.

    Raises:
        BatchError: Ray is missing, the address is malformed or nobody answers there.
    """
    try:
        import ray
    except ImportError:
        raise BatchError("--cluster needs Ray, which is not installed: "
                         "pip install '.[cluster]'") from None
    if ray.is_initialized():
        return False
    import logging
    import os

    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet,
                              "logging_level": logging.WARNING}
    # the model-cache budgets (set by --ram-budget/--vram-budget or the environment) go along
    env = {k: v for k, v in os.environ.items() if k in _BUDGET_VARIABLES}
    if address == "local":
        # workers started here import the project from this checkout
        paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        kwargs.update(address="local", num_cpus=num_cpus)
    elif address != "auto" and not address.startswith("ray://"):
        raise BatchError(f"--cluster {address!r}: expected ray://HOST:PORT, auto or local")
    else:
        kwargs.pop("include_dashboard")
        kwargs["address"] = address
    if env:
        kwargs["runtime_env"] = {"env_vars": env}
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BatchError(f"--cluster {address}: cannot reach a Ray cluster ({exc}); start one "
                         "with `ray start --head`, or use --cluster local") from None
    return True


def disconnect() -> None:
    """Leave the cluster (stopping it when ``connect`` started it here)."""
    import ray

    ray.shutdown()




class BatchWorker:
    """The body of one Ray actor: one Executor (and its cache) reused for every job.

    Args:
        options: run settings; ``device`` may be ``auto`` (resolved on the worker).
    """

    def __init__(self, options: RunOptions) -> None:
        import os
        import socket

        from app.engine.executor import Executor
        from app.engine.registry import default_registry

        self.registry = default_registry()
        self.executor = Executor(self.registry)
        self.options = options
        self.device = resolve_device(options.device)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.executed: Counter[str] = Counter()  # node type -> times it really ran
        self.jobs = 0
        self._token = CancelToken()
        self._stopping = False

    def run(self, document: dict[str, Any], job: Job, tag: str) -> dict[str, Any]:
        """Run ``job`` over the workflow ``document``; returns the record and file bytes."""
        from app.engine.workflow import from_document

        token = CancelToken()
        self._token = token
        if self._stopping:  # read after publishing the token, so cancel() cannot slip by
            token.cancel()
        graph = from_document(document, "batch workflow", self.registry)
        with tempfile.TemporaryDirectory(prefix="batch-") as tmp:
            options = RunOptions(
                device=self.device, output_dir=Path(tmp), previews=self.options.previews,
                preview_vae_every=self.options.preview_vae_every,
                precision=self.options.precision, vae_precision=self.options.vae_precision,
                vram_mode=self.options.vram_mode, accelerate=self.options.accelerate,
            )  # threads: each worker keeps torch's choice for its own machine
            executed: list[str] = []
            record = run_job(self.executor, self.registry, graph, job, tag, options, token,
                             [lambda e: executed.extend(e.executed if isinstance(e, RunFinished)
                                                        else ())])
            files = {name: (Path(tmp) / name).read_bytes() for name in record["files"]}
        self.jobs += 1
        self.executed.update(graph.nodes[n].type for n in executed if n in graph.nodes)
        return {"record": record, "files": files, "worker": self.name}

    def cancel(self) -> None:
        """Stop the running job at its next step, and any job sent after it."""
        self._stopping = True
        self._token.cancel()

    def stats(self) -> dict[str, Any]:
        """Who this worker is, its device, jobs run and how often each node type ran."""
        return {"worker": self.name, "device": self.device, "jobs": self.jobs,
                "executed": dict(self.executed)}


class RayBatchRunner(BatchRunner):
    """A BatchRunner whose jobs run on Ray actors; files and manifest stay on the driver.

    Args:
        workers: at most this many actors (default: one per GPU, else one per CPU).
    """

    def __init__(self, *args: Any, workers: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workers = workers
        self.stats: list[dict[str, Any]] = []  # each worker's stats() after the run
        self.last_error = ""

    def _run(
        self,
        cancel: CancelToken | None = None,
        listeners: Iterable[Listener] = (),
        on_job_start: Callable[[Job], None] | None = None,
        on_job_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> BatchResult:
        """Run every pending job on the cluster; records arrive as jobs finish.

        Called by :meth:`BatchRunner.run` with the output folder locked.

        Step events stay on the workers, so ``listeners`` hear nothing. Cancelling stops
        dispatching, cancels the jobs in flight and records them ``cancelled``.
        """
        import ray

        from app.engine.workflow import to_document

        cancel = cancel or CancelToken()
        todo, skipped = self.pending()
        result = BatchResult(total=len(self.jobs), skipped=skipped)
        started = time.perf_counter()
        actors = self._start_workers(len(todo)) if todo else []
        document = ray.put(to_document(self.graph)) if todo else None
        queue, idle = deque(todo), list(actors)
        running: dict[Any, tuple[Job, Any]] = {}
        try:
            while (queue or running) and not cancel.cancelled:
                while queue and idle:
                    job, actor = queue.popleft(), idle.pop(0)
                    if on_job_start:
                        on_job_start(job)
                    self._clear_leftovers(job.tag(self.width))
                    running[actor.run.remote(document, job, job.tag(self.width))] = (job, actor)
                if not running:
                    raise BatchError(f"every Ray worker died ({self.last_error}); "
                                     f"{len(queue)} job(s) not run")
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    job, actor = running.pop(ref)
                    record, alive = self._collect(ref, job)
                    if alive:
                        idle.append(actor)
                    self.finish(record, result, on_job_end)
            if cancel.cancelled and (queue or running):
                result.cancelled = True
                self._cancel(running, result, on_job_end)
            self.stats = self._stats(idle)
        finally:
            for actor in actors:
                ray.kill(actor)
        result.records.sort(key=lambda r: r["index"])
        result.seconds = time.perf_counter() - started
        return result

    def _start_workers(self, jobs: int) -> list[Any]:
        """One actor per GPU (when the cluster has GPUs and the device allows) or CPU."""
        import ray

        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if self.options.device in ("auto", "cuda") else 0
        if self.options.device == "cuda" and not gpus:
            raise BatchError("--device cuda: the Ray cluster has no GPUs")
        slots = gpus or max(1, int(resources.get("CPU", 1)))
        count = min(slots, self.workers or slots, jobs)
        need = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        # two threads: one runs the job while the other can take cancel()
        worker = ray.remote(max_concurrency=2, **need)(BatchWorker)
        return [worker.remote(self.options) for _ in range(count)]

    def _stats(self, actors: list[Any]) -> list[dict[str, Any]]:
        """Each live worker's stats(); none when they do not answer within 30 s."""
        import ray
        from ray.exceptions import RayError

        try:
            return ray.get([a.stats.remote() for a in actors], timeout=30) if actors else []
        except RayError:
            return []

    def _collect(self, ref: Any, job: Job) -> tuple[dict[str, Any], bool]:
        """The record of a finished task, its files written; and whether its actor lives."""
        import ray
        from ray.exceptions import RayActorError, RayError

        from node_api.files import atomic_write

        tag = job.tag(self.width)
        try:
            reply = ray.get(ref)
        except RayError as exc:
            record = new_record(job)
            record["error"] = _describe(exc)
            self.last_error = record["error"]
            return record, not isinstance(exc, RayActorError)
        record = reply["record"]
        try:
            for name, data in reply["files"].items():
                atomic_write(self.out_dir / name, data)
        except OSError as exc:
            record.update(status="failed", files=[], error=f"cannot write {exc.filename}: "
                          f"{exc.strerror}")
        if record["status"] != "ok":
            self._clear_leftovers(tag)
        return record, True

    def _cancel(
        self,
        running: dict[Any, tuple[Job, Any]],
        result: BatchResult,
        on_job_end: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        """Cancel the jobs in flight; each is recorded as it comes back (or as cancelled)."""
        import ray

        if not running:
            return
        for _, actor in running.values():
            actor.cancel.remote()
        ready, late = ray.wait(list(running), num_returns=len(running), timeout=CANCEL_WAIT_S)
        for ref in ready:
            job, _ = running[ref]
            self.finish(self._collect(ref, job)[0], result, on_job_end)
        for ref in late:
            job, _ = running[ref]
            ray.cancel(ref, force=False)
            self._clear_leftovers(job.tag(self.width))
            self.finish({**new_record(job), "status": "cancelled"}, result, on_job_end)


def _describe(exc: Exception) -> str:
    """The last line of a Ray error (the worker's own exception), with a hint for imports."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    last = text.splitlines()[-1].strip() if text else type(exc).__name__
    if "ModuleNotFoundError" in last:
        last += " (install this project on every node of the cluster)"
    return f"the Ray worker failed: {last}"
