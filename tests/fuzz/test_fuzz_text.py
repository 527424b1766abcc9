"""Fuzzing the text parsers: A1111 infotexts (never an error: what is not understood is a
note), job files (.jsonl and .csv) and sweep specs (only BatchError, naming the file)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from app.batch.jobs import (  # noqa: E402
    MAX_JOBS,
    BatchError,
    combine,
    parse_sweep,
    read_job_file,
)
from app.engine.registry import default_registry  # noqa: E402
from app.engine.validation import validate  # noqa: E402
from app.interop.a1111 import graph_from_parameters, parse_parameters  # noqa: E402
from tests.fuzz.strategies import VALUES, bounded  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-text-"))
REGISTRY = default_registry()

# pieces of A1111 settings lines, glued in any order and repeated
PIECES = st.sampled_from([
    "Steps: ", "Sampler: ", "Euler a", "DPM++ 2M Karras", "CFG scale: ", "Seed: ", "Size: ",
    "Model: ", "Schedule type: ", "Denoising strength: ", "Hires upscale: ", "Lora hashes: ",
    "Negative prompt:", "512x768", "x", "9" * 50, "1e999", "-1", "nan", ", ", ",", ":", '"',
    '\\"', "\\", " ", "\n", "a", "(", ")", "é", "\ud800",
])
INFOTEXT = st.lists(PIECES, max_size=40).map("".join) | st.text(max_size=200)


@given(INFOTEXT, st.integers(0, 3))
def test_a1111_infotext(text: str, repeat: int) -> None:
    text = "a prompt\nSteps: 20, " + text * (1 + 500 * repeat)  # up to ~100,000 characters
    parsed = bounded(parse_parameters, text)
    assert set(parsed) == {"prompt", "negative", "settings"}
    graph = bounded(graph_from_parameters, text, REGISTRY)
    bounded(validate, graph, REGISTRY)


def job_line(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


@given(st.lists(VALUES.map(job_line) | st.text(max_size=40), min_size=1, max_size=5),
       st.sampled_from(["jobs.jsonl", "jobs.csv"]))
def test_job_files(lines: list[str], name: str) -> None:
    path = FOLDER / name
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        jobs = bounded(read_job_file, path)
    except BatchError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message
        return
    assert jobs and all(isinstance(job, dict) for job in jobs)


SPEC = st.lists(st.sampled_from(["1", "0", "-", ".", "..", ":", ",", "5", "0.1", "1e3", " ",
                                 "a", "999999999"]), max_size=12).map("".join)


@given(st.lists(SPEC, min_size=1, max_size=3))
def test_sweep_specs(specs: list[str]) -> None:
    try:
        sweeps = [bounded(parse_sweep, f"Noise.seed={spec}") for spec in specs]
        jobs = bounded(combine, sweeps)
    except BatchError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= len(jobs) <= MAX_JOBS
