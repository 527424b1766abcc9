"""Batches on Ray workers: the same files, bytes, manifest and resume as a local batch.

The worker body (``BatchWorker``) is tested in-process without Ray; the cluster tests
start a local 2-CPU Ray instance once per module and skip when Ray is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.batch.ray_runner import BatchWorker, RayBatchRunner, connect, disconnect
from app.batch.runner import BatchRunner, Job, Manifest, combine, make_jobs
from app.engine.registry import default_registry
from app.engine.workflow import save_workflow, to_document
from node_api.context import CancelToken, RunOptions
from tests.nodes.conftest import txt2img_graph

ROOT = Path(__file__).resolve().parents[2]
LOADER = "loaders.checkpoint"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny txt2img workflow, 5 jobs (the last fails in its loader), run locally."""
    from pipelines.testing.tiny import build_tiny_sd

    base = tmp_path_factory.mktemp("ray_batch")
    registry = default_registry()
    graph = txt2img_graph(registry, build_tiny_sd(base / "tiny"), steps=2, size=32)
    rows = combine([("Noise.seed", [1, 2, 3, 4])]) + [{"1.checkpoint": str(base / "nothing")}]
    jobs = make_jobs(graph, registry, rows)
    local = base / "local"
    BatchRunner(graph, registry, jobs, local, RunOptions(previews=False)).run()
    return graph, registry, jobs, local


def _pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def _rows(folder: Path) -> dict[int, dict]:
    """The manifest's latest record per job, less the timing."""
    return {i: {k: v for k, v in r.items() if k != "seconds"}
            for i, r in Manifest(folder).load().items()}


def test_the_local_reference_has_four_images_and_a_failed_job(reference):
    _, _, _, local = reference
    assert _pngs(local) == [f"job0000{i}_studio_00001.png" for i in range(4)]
    assert _rows(local)[4]["status"] == "failed" and "failed" in _rows(local)[4]["error"]


def test_a_worker_returns_the_local_record_and_png_bytes(reference):
    graph, registry, jobs, local = reference
    worker = BatchWorker(RunOptions(device="auto", previews=False))
    document = to_document(graph)
    replies = [worker.run(document, job, job.tag(5)) for job in (jobs[1], jobs[2], jobs[4])]
    for job, reply in zip((jobs[1], jobs[2], jobs[4]), replies, strict=True):
        record = {k: v for k, v in reply["record"].items() if k != "seconds"}
        assert record == _rows(local)[job.index]
        assert reply["files"] == {name: (local / name).read_bytes() for name in record["files"]}
    stats = worker.stats()
    assert stats["device"] == "cpu" and stats["jobs"] == 3
    assert stats["executed"][LOADER] == 1  # the model stayed loaded; the bad path failed


def test_a_cancelled_worker_stops_this_job_and_every_later_one(reference):
    graph, _, jobs, _ = reference
    worker = BatchWorker(RunOptions(device="cpu", previews=False))
    worker.cancel()
    reply = worker.run(to_document(graph), jobs[0], jobs[0].tag(5))
    assert reply["record"]["status"] == "cancelled" and reply["files"] == {}
    assert worker.stats()["executed"] == {}


def test_cluster_flag_without_ray_says_how_to_install(reference, tmp_path):
    graph, _, _, _ = reference
    workflow = save_workflow(graph, tmp_path / "wf.json")
    hide_ray = ("import sys; sys.modules['ray'] = None; from app.cli.main import main; "
                "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run(
        [sys.executable, "-c", hide_ray, "batch", str(workflow), "--cluster", "local"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "pip install '.[cluster]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs, shared by the tests of this module."""
    pytest.importorskip("ray")
    assert connect("local", num_cpus=2, quiet=True)
    yield
    disconnect()


def test_a_cancelled_ray_batch_resumes_to_the_local_result(cluster, reference, tmp_path):
    graph, registry, jobs, local = reference
    out = tmp_path / "ray"
    cancel = CancelToken()
    first = RayBatchRunner(graph, registry, jobs, out, RunOptions(previews=False), workers=2)
    partial = first.run(cancel, on_job_end=lambda record: cancel.cancel())
    # the first result cancels: the job on the other worker finishes or is cancelled,
    # the 3 jobs still queued are never sent
    assert partial.cancelled and 1 <= len(partial.records) <= 2
    assert {r["index"] for r in partial.records} <= {0, 1}
    assert partial.records[0]["status"] == "ok" or partial.records[-1]["status"] == "ok"
    done = [r["index"] for r in partial.records if r["status"] == "ok"]
    assert _pngs(out) == [f"job{i:05d}_studio_00001.png" for i in done]
    assert _rows(out) == {r["index"]: {k: v for k, v in r.items() if k != "seconds"}
                          for r in partial.records}

    # leftovers of a crash during job 3: a stale image, a temp file, a torn manifest line
    (out / "job00003_studio_00001.png").write_bytes(b"stale")
    (out / ".job00003_studio_00002.png.x.tmp").write_bytes(b"half")
    with open(out / "manifest.jsonl", "a") as handle:
        handle.write('{"index": 3, "key": "')

    second = RayBatchRunner(graph, registry, jobs, out, RunOptions(previews=False), workers=2)
    rest = second.run()
    assert rest.skipped == done and not rest.cancelled
    assert [r["index"] for r in rest.records] == [i for i in range(5) if i not in done]
    assert [r["index"] for r in rest.failed] == [4] and "failed" in rest.failed[0]["error"]
    assert _pngs(out) == _pngs(local) and not list(out.glob(".*.tmp"))
    for name in _pngs(local):  # same seeds, same bytes (workflow embedded) as a local batch
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    assert _rows(out) == _rows(local)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line was cut off
    assert len(second.stats) == 2 and sum(s["jobs"] for s in second.stats) == len(rest.records)
    assert all(s["executed"][LOADER] == 1 for s in second.stats)  # one model load per worker
    assert len({s["worker"] for s in second.stats}) == 2

    # the failed job is tried again; an exception raised in the worker itself (here by a
    # malformed job) is recorded as a failure and the batch goes on
    broken = Job(5, None, "broken")  # type: ignore[arg-type]
    again = RayBatchRunner(graph, registry, [*jobs, broken], out, workers=2).run()
    assert again.skipped == [0, 1, 2, 3] and not again.cancelled
    assert [(r["index"], r["status"]) for r in again.records] == [(4, "failed"), (5, "failed")]
    assert "the Ray worker failed: AttributeError" in again.records[1]["error"]
    assert _pngs(out) == _pngs(local)


def test_bad_cluster_arguments_exit_2_before_anything_runs(reference, tmp_path):
    pytest.importorskip("ray")
    graph, _, _, _ = reference
    workflow = save_workflow(graph, tmp_path / "wf.json")
    for extra, words in ((["--cluster", "tcp://head"], "expected ray://HOST:PORT, auto or local"),
                         (["--workers", "2"], "--workers N needs --cluster")):
        done = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "batch", str(workflow), "--out",
             str(tmp_path / "out"), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
