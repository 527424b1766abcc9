"""Batch runs: many jobs (sets of overrides) over one workflow with ONE Executor, so the
checkpoint and the prompt encodings stay cached and a batch of N costs about N samplings.

Every job writes its files under its own prefix (``job00007_<prefix>_00001.png``) and is
recorded in ``manifest.jsonl`` (one atomic line per finished job). Re-running the same
batch into the same folder skips the jobs recorded ``ok``, clears the leftovers of a job
that was cut off before redoing it, and so never duplicates or overwrites an output.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.batch.jobs import (
    BatchError,
    as_override,
    check_keys,
    combine,
    expand_jobs,
    parse_spec,
    parse_sweep,
    read_job_file,
)
from app.batch.lock import folder_lock
from app.batch.manifest import Manifest
from app.engine.executor import Executor
from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.context import CancelToken, RunOptions
from node_api.events import Listener

__all__ = [
    "BatchError", "BatchResult", "BatchRunner", "Job", "Manifest", "combine", "expand_jobs",
    "make_jobs", "new_record", "parse_spec", "parse_sweep", "read_job_file", "run_job",
]

@dataclass(frozen=True)
class Job:
    """One run of the batch: its position, its overrides and a key identifying both."""

    index: int
    overrides: dict[str, Any]
    key: str

    def tag(self, width: int) -> str:
        return f"job{self.index:0{width}d}"


def make_jobs(graph: Graph, registry: Registry, rows: list[dict[str, Any]]) -> list[Job]:
    """Number the override rows and key each on the workflow and its overrides.

    Raises:
        BatchError: a key names a node or field the workflow does not have.
    """
    check_keys(graph, registry, rows)
    from app.engine.workflow import to_document

    base = json.dumps(to_document(graph), sort_keys=True, default=str)
    jobs = []
    for index, row in enumerate(rows):
        texts = sorted(as_override(k, v) for k, v in row.items())
        key = hashlib.sha256(json.dumps([base, texts]).encode()).hexdigest()[:16]
        jobs.append(Job(index, dict(row), key))
    return jobs


@dataclass
class BatchResult:
    """What a batch run did: this run's records in job order, and the jobs it skipped."""

    total: int
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "ok"]


class BatchRunner:
    """Runs jobs over ``graph`` into ``out_dir`` with one Executor, resuming from the manifest.

    Args:
        graph: the workflow with the batch-wide ``--set`` overrides already applied.
        options: run settings; ``output_dir`` and ``workflow`` are set per job.
    """

    def __init__(
        self,
        graph: Graph,
        registry: Registry,
        jobs: list[Job],
        out_dir: Path,
        options: RunOptions | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.graph = graph
        self.registry = registry
        self.jobs = jobs
        self.out_dir = Path(out_dir)
        self.options = options or RunOptions()
        self.executor = executor or Executor(registry)
        self.manifest = Manifest(self.out_dir)
        self.width = max(5, len(str(max(len(jobs) - 1, 0))))

    def pending(self) -> tuple[list[Job], list[int]]:
        """Jobs still to run and indices already done, per the manifest.

        Raises:
            BatchError: the folder holds the manifest of a different batch.
        """
        done = self.manifest.load()
        for job in self.jobs:
            record = done.get(job.index)
            if record is not None and record.get("key") != job.key:
                raise BatchError(
                    f"{self.manifest.path} belongs to a different batch (job {job.index} "
                    f"had other overrides or another workflow); use another --out folder"
                )
        skipped = [j.index for j in self.jobs if done.get(j.index, {}).get("status") == "ok"]
        return [j for j in self.jobs if j.index not in set(skipped)], skipped

    def run(
        self,
        cancel: CancelToken | None = None,
        listeners: Iterable[Listener] = (),
        on_job_start: Callable[[Job], None] | None = None,
        on_job_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> BatchResult:
        """Run every pending job; a failed job is recorded and the batch goes on.

        Raises:
            BatchError: another batch is running into the folder, or it holds another
                batch's manifest, or the manifest cannot be written.
        """
        with folder_lock(self.out_dir):
            return self._run(cancel, listeners, on_job_start, on_job_end)

    def _run(
        self,
        cancel: CancelToken | None,
        listeners: Iterable[Listener],
        on_job_start: Callable[[Job], None] | None,
        on_job_end: Callable[[dict[str, Any]], None] | None,
    ) -> BatchResult:
        cancel = cancel or CancelToken()
        todo, skipped = self.pending()
        result = BatchResult(total=len(self.jobs), skipped=skipped)
        started = time.perf_counter()
        for job in todo:
            if cancel.cancelled:
                result.cancelled = True
                break
            if on_job_start:
                on_job_start(job)
            tag = job.tag(self.width)
            self._clear_leftovers(tag)
            record = run_job(self.executor, self.registry, self.graph, job, tag,
                             self.job_options(), cancel, list(listeners))
            if record["status"] != "ok":
                self._clear_leftovers(tag)  # no half-finished job leaves files behind
            self.finish(record, result, on_job_end)
            if result.cancelled:
                break
        result.seconds = time.perf_counter() - started
        return result

    def job_options(self) -> RunOptions:
        """The run settings every job starts from, writing into the batch folder."""
        return replace(self.options, output_dir=self.out_dir, workflow=None)

    def finish(
        self,
        record: dict[str, Any],
        result: BatchResult,
        on_job_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Record one finished job: a manifest line, the result, the callback."""
        if record["status"] == "cancelled":
            result.cancelled = True
        self.manifest.append(record)
        result.records.append(record)
        if on_job_end:
            on_job_end(record)

    def _clear_leftovers(self, tag: str) -> None:
        if not self.out_dir.is_dir():
            return
        for pattern in (f"{tag}_*", f".{tag}_*"):
            for path in self.out_dir.glob(pattern):
                if path.is_file():
                    path.unlink(missing_ok=True)


def new_record(job: Job) -> dict[str, Any]:
    """The manifest record of ``job`` before it ran: failed, with no files."""
    return {
        "index": job.index, "key": job.key, "overrides": job.overrides, "files": [],
        "seed": None, "status": "failed", "error": None, "seconds": 0.0,
    }


def run_job(
    executor: Executor,
    registry: Registry,
    graph: Graph,
    job: Job,
    tag: str,
    options: RunOptions,
    cancel: CancelToken,
    listeners: list[Listener],
) -> dict[str, Any]:
    """Run one job over ``graph`` into ``options.output_dir``; returns its manifest record.

    Shared by the local runner and the cluster workers, so both name files, embed
    workflows and describe failures the same way. Files are listed relative to the folder.
    """
    from app.engine.overrides import OverrideError, apply_overrides
    from app.engine.validation import ValidationError
    from app.engine.workflow import to_document

    record = new_record(job)
    t0 = time.perf_counter()
    good, problems = [], []
    for text in (as_override(k, v) for k, v in job.overrides.items()):
        try:
            apply_overrides(graph, registry, [text])
            good.append(text)
        except OverrideError as exc:
            problems.append(str(exc))
    graph = apply_overrides(graph, registry, good)
    record["seed"] = _seed(graph, registry)  # recorded even when a value is bad
    if problems:
        record["error"] = "\n".join(problems)
        return record
    _prefix_outputs(graph, registry, tag)
    options = replace(options, workflow=to_document(graph))
    try:
        finished = executor.run(graph, options=options, listeners=listeners, cancel=cancel)
    except ValidationError as exc:
        record["error"] = str(exc)
        record["seconds"] = round(time.perf_counter() - t0, 3)
        return record
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["status"] = finished.status
    record["error"] = finished.error
    if finished.status == "ok":
        record["files"] = [_relative(p, Path(options.output_dir)) for p in finished.files]
    return record


def _prefix_outputs(graph: Graph, registry: Registry, tag: str) -> None:
    """Give every file-writing output node this job's own file prefix."""
    for node in graph.nodes.values():
        spec = registry.get(node.type)
        if spec is not None and spec.is_output and spec.input("filename_prefix"):
            node.values["filename_prefix"] = f"{tag}_{node.values.get('filename_prefix', '')}"


def _seed(graph: Graph, registry: Registry) -> int | None:
    """The seed of the workflow's first node with a seed field (a Noise Source), if any."""
    for node in sorted(graph.nodes.values(), key=lambda n: (len(n.id), n.id)):
        spec = registry.get(node.type)
        field = next((v for v in spec.values if getattr(v, "widget", "") == "seed"), None) if spec else None
        if field is not None:
            return node.values.get(field.name, field.default)
    return None


def _relative(path: str, folder: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)
