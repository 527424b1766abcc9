"""Batches against hostile folders: a second batch at once, odd manifests, a full disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.batch.lock import folder_lock
from app.batch.runner import BatchError, BatchRunner, Manifest, combine, make_jobs
from tests.batch.test_batch import _pngs
from tests.batch.test_batch import toy as toy  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding the batch lock of ``folder`` until it is killed."""
    code = textwrap.dedent("""
        import sys, time
        from app.batch.lock import folder_lock
        with folder_lock(sys.argv[1]):
            print("locked", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_batch_into_a_busy_folder_is_refused_until_the_first_dies(toy, tmp_path):
    registry, graph, _, _ = toy
    jobs = make_jobs(graph, registry, combine([("Noise.seed", [1, 2])]))
    other = _hold_lock(tmp_path)
    try:
        with pytest.raises(BatchError, match=rf"in use by another batch \(pid {other.pid}\)"):
            BatchRunner(graph, registry, jobs, tmp_path).run()
        assert _pngs(tmp_path) == [] and not (tmp_path / "manifest.jsonl").exists()
    finally:
        os.kill(other.pid, signal.SIGKILL)  # a killed batch releases the folder
        other.wait()
        other.stdout.close()
    result = BatchRunner(graph, registry, jobs, tmp_path).run()
    assert [r["status"] for r in result.records] == ["ok", "ok"]


def test_the_lock_is_held_only_while_running(toy, tmp_path):
    registry, graph, _, _ = toy
    jobs = make_jobs(graph, registry, [{"Noise.seed": 1}])
    with folder_lock(tmp_path), pytest.raises(BatchError, match="in use"):
        BatchRunner(graph, registry, jobs, tmp_path).run()
    BatchRunner(graph, registry, jobs, tmp_path).run()
    with folder_lock(tmp_path):  # released after the run
        pass


def test_two_real_batches_at_once_never_share_a_folder(tmp_path):
    """Two processes run different batches into one folder: one runs, the other is
    refused; no image of the first is overwritten and its manifest stays its own."""
    code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from app.batch.runner import BatchError, BatchRunner, combine, make_jobs
        from node_api.declaration import Int, Link, Output, String, node
        from app.engine.graph import Graph
        from app.engine.registry import Registry
        from node_api.files import atomic_write
        registry = Registry()
        @node("sampling.noise", title="Noise", category="toy", registry=registry,
              inputs=[Int("seed", 0, widget="seed")], outputs=[Output("x", "X")])
        def noise(ctx, seed):
            time.sleep(0.05)
            return seed
        @node("toy.write", title="Save", category="toy", registry=registry, is_output=True,
              inputs=[Link("x", "X"), String("filename_prefix", "out")])
        def write(ctx, x, filename_prefix):
            path = ctx.options.output_dir / f"{filename_prefix}_00001.png"
            atomic_write(path, f"{sys.argv[2]}:{x}".encode())
            ctx.wrote_file(path)
        graph = Graph()
        graph.add("sampling.noise", registry=registry, node_id="1")
        graph.add("toy.write", registry=registry, node_id="2")
        graph.connect("1", "x", "2", "x")
        seeds = range(int(sys.argv[2]), int(sys.argv[2]) + 6)
        jobs = make_jobs(graph, registry, combine([("Noise.seed", list(seeds))]))
        go = Path(sys.argv[1]).parent / "go"
        while not go.exists():
            time.sleep(0.001)
        try:
            result = BatchRunner(graph, registry, jobs, Path(sys.argv[1])).run()
        except BatchError as exc:
            print("refused:", exc)
        else:
            print("ran", len(result.ok))
    """)
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(out), str(base)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for base in (100, 200)]
    (tmp_path / "go").touch()
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outputs.append(stdout.strip())
    ran = [o for o in outputs if o.startswith("ran")]
    refused = [o for o in outputs if o.startswith("refused")]
    # the second may also start after the first finished: then its manifest refuses it
    assert ran == ["ran 6"] and len(refused) == 1, outputs
    records = Manifest(out).load()
    assert len(records) == 6 and len((out / "manifest.jsonl").read_text().splitlines()) == 6
    for record in records.values():
        (name,) = record["files"]
        assert (out / name).read_text() == f"{record['seed'] // 100 * 100}:{record['seed']}"
    assert len(_pngs(out)) == 6


def test_a_lone_surrogate_in_a_job_is_recorded_and_reads_back(toy, tmp_path):
    registry, graph, _, _ = toy
    jobs = make_jobs(graph, registry, [{"Loader.name": "bad \ud800 name"}, {"Noise.seed": 2}])
    result = BatchRunner(graph, registry, jobs, tmp_path).run()
    # the toy writer cannot encode it (a real Save Image can): recorded, and the batch goes on
    assert [r["status"] for r in result.records] == ["failed", "ok"]
    assert Manifest(tmp_path).load()[0]["overrides"] == {"Loader.name": "bad \ud800 name"}
    again = BatchRunner(graph, registry, jobs, tmp_path).run()  # resumes, no crash
    assert again.skipped == [1] and [r["index"] for r in again.records] == [0]


def test_a_manifest_that_is_a_folder_is_one_clear_error(toy, tmp_path):
    registry, graph, _, _ = toy
    (tmp_path / "manifest.jsonl").mkdir()
    jobs = make_jobs(graph, registry, [{"Noise.seed": 1}])
    with pytest.raises(BatchError, match="manifest.jsonl is not a regular file"):
        BatchRunner(graph, registry, jobs, tmp_path).run()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_full_disk_while_writing_the_manifest_is_one_clear_error(toy, tmp_path, monkeypatch):
    registry, graph, _, _ = toy
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:  # the disk fills up at the manifest
        if os.readlink(f"/proc/self/fd/{fd}").endswith("manifest.jsonl"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    jobs = make_jobs(graph, registry, combine([("Noise.seed", [1, 2])]))
    with pytest.raises(BatchError, match="cannot write .*manifest.jsonl: No space left"):
        BatchRunner(graph, registry, jobs, tmp_path).run()
    monkeypatch.undo()
    result = BatchRunner(graph, registry, jobs, tmp_path).run()  # space again: resumes
    assert [r["status"] for r in result.records] == ["ok", "ok"]
    assert _pngs(tmp_path) == ["job00000_out_00001.png", "job00001_out_00001.png"]


def test_a_manifest_that_is_a_device_is_refused(tmp_path):
    if not Path("/dev/null").exists():
        pytest.skip("needs /dev/null")
    (tmp_path / "manifest.jsonl").symlink_to("/dev/null")
    with pytest.raises(BatchError, match="not a regular file"):
        Manifest(tmp_path).load()
    with pytest.raises(BatchError, match="not a regular file"):
        Manifest(tmp_path).append({"index": 0})


def test_manifest_records_keep_unicode_readable(tmp_path):
    Manifest(tmp_path).append({"index": 0, "text": "café"})
    assert "café" in (tmp_path / "manifest.jsonl").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "manifest.jsonl").read_text())["text"] == "café"
