"""Batch job expansion: sweep specs, cartesian product or zip, and job files (jsonl/csv).

A job is a mapping ``{"NODE.FIELD": value}`` of overrides; NODE is a node id or title.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.declaration import Value
from pipelines.errors import StudioError
from pipelines.untrusted_json import JsonInputError, show
from pipelines.untrusted_json import loads as checked_loads

# The most jobs one batch takes. 100,000 jobs are numbered, keyed and checked against the
# manifest in a few seconds and are more than a day of work even for a fast GPU; above
# that, starting (and every resume) would take minutes before the first image.
MAX_JOBS = 100_000
MAX_LINE_CHARS = 1024 * 1024  # one job of a job file (a few overrides, maybe long prompts)
# A job file or a sweep's @file, checked with stat before it is read: 100,000 jobs of ~600
# bytes (a few overrides with a prompt each); a bigger file could not hold a valid batch.
MAX_JOB_FILE_BYTES = 64 * 1024 * 1024
_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*(?::\s*(-?[\d.]+)\s*)?$")


class BatchError(StudioError, ValueError):
    """Batch arguments that cannot be used: a bad sweep spec, job file or manifest."""


def too_many(count: int, what: str = "jobs") -> BatchError:
    """The error for a batch above MAX_JOBS."""
    return BatchError(f"too many {what} ({count:,}; at most {MAX_JOBS:,}); use --jobs with a "
                      f"file or split the sweep into several batches")


def parse_spec(text: str) -> list[Any]:
    """Values of a sweep SPEC.

    ``a,b,c`` (a list of strings), ``1..100`` (an int range, inclusive),
    ``0.5..1.0:0.1`` (a range with a step; ints when all three are ints) or ``@file.txt``
    (one value per line, blank lines skipped).

    Raises:
        BatchError: the spec is malformed or empty.
    """
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            _check_file(path, "the values file", f"{text!r}: cannot read ")
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except OSError as exc:
            raise BatchError(f"{text!r}: cannot read {path} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise BatchError(f"{text!r}: {path} is not UTF-8 text") from None
        values: list[Any] = [line.strip() for line in lines if line.strip()]
        if len(values) > MAX_JOBS:
            raise too_many(len(values), f"values in {path}")
        if not values:
            raise BatchError(f"{text!r}: {path} has no values (one per line)")
        return values
    match = _RANGE.match(text)
    if match:
        return _range(text, *match.groups())
    values = [part.strip() for part in text.split(",")]
    if not text.strip() or any(v == "" for v in values):
        raise BatchError(f"{text!r}: expected a,b,c or A..B or A..B:STEP or @file.txt")
    return values


def _check_file(path: Path, what: str, lead: str = "") -> None:
    """Refuse, from its stat, a FIFO or device (reading would block or never end) and a file
    over ``MAX_JOB_FILE_BYTES``."""
    from pipelines.loading.file_policy import FileRefused, check_regular

    try:
        check_regular(path, what, max_bytes=MAX_JOB_FILE_BYTES)
    except FileRefused as exc:
        raise BatchError(f"{lead}{exc}") from None


def _range(text: str, start: str, stop: str, step: str | None) -> list[Any]:
    try:
        lo, hi = Decimal(start), Decimal(stop)
        inc = Decimal(step) if step is not None else None
    except InvalidOperation:
        raise BatchError(f"{text!r}: a range is START..STOP or START..STOP:STEP") from None
    integral = all("." not in s for s in (start, stop, step or ""))
    if inc is None:
        if not integral:
            raise BatchError(f"{text!r}: a range of decimals needs a step, e.g. 0.5..1.0:0.1")
        inc = Decimal(1) if hi >= lo else Decimal(-1)
    if inc == 0 or (hi - lo) * inc < 0:
        raise BatchError(f"{text!r}: the step {inc} never gets from {lo} to {hi}")
    count = int((hi - lo) / inc) + 1
    if count > MAX_JOBS:
        raise too_many(count, f"values in {text!r}")
    # Decimal arithmetic, so 0.5..1.0:0.1 gives 0.6 and not 0.6000000000000001
    values = [lo + inc * i for i in range(count)]
    return [int(v) for v in values] if integral else [float(v) for v in values]


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """Split ``'Sampler.cfg=1..3'`` into the field key and its values."""
    key, sep, spec = text.partition("=")
    if not sep or "." not in key.strip(" .") or not spec:
        raise BatchError(f"--sweep {text!r}: expected NODE.FIELD=SPEC")
    try:
        return key.strip(), parse_spec(spec)
    except BatchError as exc:
        raise BatchError(f"--sweep {key.strip()}: {exc}") from None


def combine(sweeps: list[tuple[str, list[Any]]], zipped: bool = False) -> list[dict[str, Any]]:
    """Jobs of the sweeps: every combination (cartesian product), or element-wise (zip).

    Raises:
        BatchError: zipped sweeps of different lengths.
    """
    if not sweeps:
        return [{}]
    keys = [key for key, _ in sweeps]
    if zipped:
        lengths = {key: len(values) for key, values in sweeps}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise BatchError(f"--zip needs sweeps of the same length: {listed}")
        rows = zip(*(values for _, values in sweeps), strict=True)
    else:
        total = 1
        for _, values in sweeps:
            total *= len(values)
        if total > MAX_JOBS:
            raise too_many(total)
        rows = itertools.product(*(values for _, values in sweeps))
    return [dict(zip(keys, row, strict=True)) for row in rows]


def read_job_file(path: str | Path) -> list[dict[str, Any]]:
    """One override mapping per line of a ``.jsonl`` file or per row of a ``.csv`` file.

    In a CSV the header names the ``NODE.FIELD`` columns; an empty cell keeps the
    workflow's value.

    Raises:
        BatchError: the file is missing or malformed; the message names the line.
    """
    path = Path(path)
    try:
        _check_file(path, "the job file", "cannot read ")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BatchError(f"{path}: cannot read the job file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BatchError(f"{path}: the job file is not UTF-8 text") from None
    jobs: list[dict[str, Any]] = []
    if path.suffix.lower() == ".csv":
        jobs = _csv_jobs(path, text)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if len(jobs) == MAX_JOBS:
                raise BatchError(f"{path}: more than {MAX_JOBS:,} jobs; split the file into "
                                 f"several batches")
            jobs.append(_job_line(path, number, line))
    if not jobs:
        raise BatchError(f"{path}: the job file has no jobs")
    return jobs


def _csv_jobs(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    jobs: list[dict[str, Any]] = []
    try:
        if not reader.fieldnames or any(not (n or "").strip() for n in reader.fieldnames):
            raise BatchError(f"{path}: the first row must name NODE.FIELD columns")
        for row in reader:
            if None in row:
                raise BatchError(f"{path}, line {reader.line_num}: more cells than columns")
            if len(jobs) == MAX_JOBS:
                raise BatchError(f"{path}: more than {MAX_JOBS:,} jobs; split the file into "
                                 f"several batches")
            jobs.append({k.strip(): v for k, v in row.items() if v not in (None, "")})
    except csv.Error as exc:  # e.g. a cell over csv's field size limit (128 KiB)
        raise BatchError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    return jobs


def _job_line(path: Path, number: int, line: str) -> dict[str, Any]:
    """One line of a .jsonl job file: an object of ``NODE.FIELD: value`` pairs."""
    try:
        item = checked_loads(line, max_chars=MAX_LINE_CHARS)
    except JsonInputError as exc:
        raise BatchError(f"{path}, line {number}: {exc}") from None
    if not isinstance(item, dict):
        raise BatchError(f"{path}, line {number}: expected an object of NODE.FIELD: value "
                         f"pairs")
    for key, value in item.items():
        if isinstance(value, dict | list) or value is None:
            raise BatchError(f"{path}, line {number}: {show(key)} must be text, a number or "
                             f"true/false, not {_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BatchError(f"{path}, line {number}: {show(key)} must be a finite number")
    return item


def _kind(value: Any) -> str:
    return "null" if value is None else "a list" if isinstance(value, list) else "an object"


def expand_jobs(
    sweeps: list[tuple[str, list[Any]]],
    job_rows: list[dict[str, Any]] | None = None,
    zipped: bool = False,
) -> list[dict[str, Any]]:
    """All jobs: each job-file row combined with each sweep combination (rows outermost)."""
    combos = combine(sweeps, zipped)
    rows = job_rows if job_rows else [{}]
    if len(rows) * len(combos) > MAX_JOBS:
        raise too_many(len(rows) * len(combos))
    return [{**row, **combo} for row in rows for combo in combos]


def check_keys(graph: Graph, registry: Registry, jobs: list[dict[str, Any]]) -> None:
    """Raise BatchError listing every ``NODE.FIELD`` key that names no value of ``graph``."""
    problems: list[str] = []
    for key in dict.fromkeys(k for job in jobs for k in job):
        node_ref, _, field = key.rpartition(".")
        node = graph.find(node_ref.strip())
        if node is None:
            titles = ", ".join(f"{n.title!r} (#{n.id})" for n in graph.nodes.values())
            problems.append(f"{key!r}: no node with id or title {node_ref!r}; nodes: {titles}")
            continue
        spec = registry.get(node.type)
        if spec is None or not isinstance(spec.input(field.strip()), Value):
            names = ", ".join(v.name for v in spec.values) if spec else ""
            problems.append(f"{key!r}: {node.label()} has no field {field!r}; fields: {names}")
    if problems:
        raise BatchError("\n".join(problems))


def as_override(key: str, value: Any) -> str:
    """The ``--set`` text of one job value (JSON numbers and booleans included)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return f"{key}={text}"
