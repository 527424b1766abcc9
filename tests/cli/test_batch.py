"""``main.py batch`` run as a user would, on the tiny model (2 steps, 32 px)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.test_cli import cli, interrupt_when
from tests.nodes.conftest import txt2img_graph


@pytest.fixture(scope="module")
def workflow_file(tmp_path_factory) -> Path:
    from app.engine.registry import default_registry
    from app.engine.workflow import save_workflow
    from pipelines.testing.tiny import build_tiny_sd

    base = tmp_path_factory.mktemp("batch")
    checkpoint = build_tiny_sd(base / "tiny")
    graph = txt2img_graph(default_registry(), checkpoint, steps=2, size=32)
    return save_workflow(graph, base / "wf.json")


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_job_file_with_a_failing_job_exits_1_then_resumes(workflow_file, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"Noise.seed": 3, "Positive Prompt.text": "a blue square"}\n'
                    '{"Noise.seed": 4, "Sampler.steps": 0}\n'
                    '{"Noise.seed": 5}\n')
    out = tmp_path / "out"
    args = ("batch", str(workflow_file), "--jobs", str(jobs), "--out", str(out),
            "--device", "cpu")
    done = cli(*args)
    assert done.returncode == 1, done.stderr
    assert "batch" in done.stderr and "job" in done.stderr  # the overall progress bar
    assert "2 ok, 1 failed" in done.stdout and "s per job" in done.stdout
    records = _manifest(out)
    assert [(r["index"], r["status"], r["seed"]) for r in records] == [
        (0, "ok", 3), (1, "failed", 4), (2, "ok", 5)]
    assert "below the minimum" in records[1]["error"]
    first = Image.open(out / records[0]["files"][0])
    assert "Seed: 3" in first.text["parameters"]
    embedded = json.loads(first.text["workflow"])
    prompt = next(n for n in embedded["nodes"] if n["title"] == "Positive Prompt")
    assert prompt["values"]["text"] == "a blue square"
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["job00000_studio_00001.png", "job00002_studio_00001.png"]

    again = cli(*args)  # resume: the ok jobs are skipped, the failed one is retried
    assert again.returncode == 1
    assert "2 of 3 job(s) already done" in again.stderr
    assert [r["index"] for r in _manifest(out)] == [0, 1, 2, 1]
    assert sorted(p.name for p in out.glob("*.png")) == pngs


def test_sweeps_zip_and_bad_arguments(workflow_file, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\na green triangle\n")
    out = tmp_path / "zip"
    done = cli("batch", str(workflow_file), "--sweep", f"Positive Prompt.text=@{prompts}",
               "--sweep", "Noise.seed=10..11", "--zip", "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert [(r["overrides"], r["seed"]) for r in _manifest(out)] == [
        ({"Positive Prompt.text": "a red circle", "Noise.seed": 10}, 10),
        ({"Positive Prompt.text": "a green triangle", "Noise.seed": 11}, 11)]
    bad = cli("batch", str(workflow_file), "--sweep", "Noise.seed=1..3",
              "--sweep", "Sampler.cfg=1,2", "--zip", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "Noise.seed has 3, Sampler.cfg has 2" in bad.stderr
    bad = cli("batch", str(workflow_file), "--sweep", "Nobody.seed=1,2")
    assert bad.returncode == 2 and "Nobody" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_cluster_flag_without_ray_says_how_to_install(workflow_file):
    if _has_ray():  # ray is never a test dependency
        pytest.skip("ray is installed here")
    done = cli("batch", str(workflow_file), "--cluster", "auto")
    assert done.returncode == 2 and "pip install '.[cluster]'" in done.stderr


def _has_ray() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def test_ctrl_c_stops_the_batch_with_130_and_a_consistent_manifest(workflow_file, tmp_path):
    out = tmp_path / "cancel"
    code, err = interrupt_when("/1000", "batch", str(workflow_file), "--out", str(out),
                               "--sweep", "Sampler.steps=2,1000,2")
    assert code == 130, err[-2000:]
    assert "resume" in err and "Traceback" not in err
    assert [(r["index"], r["status"]) for r in _manifest(out)] == [(0, "ok"), (1, "cancelled")]
    assert sorted(p.name for p in out.glob("*.png")) == ["job00000_studio_00001.png"]


def test_a_lone_surrogate_in_a_jobs_file_is_refused_naming_the_line(workflow_file, tmp_path):
    """Before any job runs (so nothing half-done is left to crash every re-run), one line
    naming the file, the line and the field; a folder holding no manifest yet stays empty."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"Positive Prompt.text": "bad \\ud800 text", "Noise.seed": 3}\n')
    out = tmp_path / "out"
    args = ("batch", str(workflow_file), "--jobs", str(jobs), "--out", str(out), "-q")
    for _ in range(2):  # the same answer again
        done = cli(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "jobs.jsonl, line 1: Positive Prompt.text" in done.stderr
        assert "surrogate" in done.stderr
    assert not list(out.glob("*.png"))


def test_a_second_batch_into_a_busy_folder_exits_2(workflow_file, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "busy"
    code = ("import sys, time\nfrom app.batch.lock import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('locked', flush=True)\n"
            "    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = cli("batch", str(workflow_file), "--out", str(out), "-q")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"in use by another batch (pid {holder.pid})" in done.stderr
        assert not list(out.glob("*.png"))
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
