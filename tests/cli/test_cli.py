"""The headless command line, run as a user would (subprocesses of main.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes.conftest import txt2img_graph

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "resources" / "workflows" / "default.json"


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workflow_file(tmp_path_factory) -> Path:
    from app.engine.registry import default_registry
    from app.engine.workflow import save_workflow
    from pipelines.testing.tiny import build_tiny_sd

    base = tmp_path_factory.mktemp("cli")
    checkpoint = build_tiny_sd(base / "tiny")
    return save_workflow(txt2img_graph(default_registry(), checkpoint), base / "wf.json")


def test_help_and_nodes_do_not_import_torch():
    code = ("import sys; from app.cli.main import main; main(['nodes']); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'PySide6' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "Sampler" in done.stdout and "Load Checkpoint" in done.stdout
    assert cli("--help").returncode == 0


def test_run_writes_image_summary_and_exit_0(workflow_file, tmp_path):
    done = cli("run", str(workflow_file), "--out", str(tmp_path), "--set", "Noise.seed=3",
               "--set", "Positive Prompt.text=a blue square", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1
    assert "wrote" in done.stdout and "Sampler (#6)" in done.stdout
    assert "Seed: 3" in __import__("PIL.Image").Image.open(pngs[0]).text["parameters"]
    assert "workflow" in done.stderr  # the progress bar


def test_invalid_workflow_and_bad_override_exit_2_without_traceback(workflow_file, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "diffusion-studio/workflow", "version": 1, "nodes": [')
    done = cli("run", str(bad))
    assert done.returncode == 2 and "bad.json" in done.stderr and "truncated" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli("run", str(workflow_file), "--set", "Sampler.steps=0")
    assert done.returncode == 2 and "below the minimum" in done.stderr
    done = cli("validate", str(workflow_file), "--set", "Nobody.seed=1")
    assert done.returncode == 2 and "Nobody" in done.stderr


def test_a_non_finite_budget_is_a_usage_error_naming_the_flag():
    for value in ("nan", "inf"):
        done = cli("run", str(DEFAULT), "--ram-budget", value)
        assert done.returncode == 2 and "--ram-budget" in done.stderr
        assert "finite" in done.stderr and "Traceback" not in done.stderr


def test_budget_flags_set_this_process_and_the_environment_workers_inherit(monkeypatch):
    import argparse

    from app.cli.common import add_memory_options, memory_options
    from pipelines.memory.budget import GIB
    from pipelines.memory.cache import default_cache

    for name in ("STUDIO_RAM_BUDGET_GB", "STUDIO_VRAM_BUDGET_GB"):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    add_memory_options(parser)
    cache = default_cache()
    before = (cache.ram_budget, cache.vram_budget)
    try:
        options = memory_options(parser.parse_args(["--ram-budget", "3.5", "--vram", "low"]))
        assert options["vram_mode"] == "low" and cache.ram_budget == int(3.5 * GIB)
        import os

        assert float(os.environ["STUDIO_RAM_BUDGET_GB"]) == 3.5  # for batch --cluster workers
        assert "STUDIO_VRAM_BUDGET_GB" not in os.environ
    finally:
        cache.set_budgets(ram=before[0], vram=before[1])


def test_validate_lists_every_problem(workflow_file, tmp_path):
    doc = json.loads(workflow_file.read_text())
    doc["links"] = [link for link in doc["links"] if link["input"] != "positive"]
    for n in doc["nodes"]:
        if n["id"] == "6":
            n["values"]["sampler"] = "nope"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    done = cli("validate", str(broken))
    assert done.returncode == 2
    assert "'Sampler' (#6), field 'positive'" in done.stderr
    assert "'Sampler' (#6), field 'sampler'" in done.stderr
    assert cli("validate", str(workflow_file)).returncode == 0


def test_node_failure_exits_1_naming_the_node(workflow_file, tmp_path):
    done = cli("run", str(workflow_file), "--out", str(tmp_path),
               "--set", f"1.checkpoint={tmp_path / 'missing-model'}")
    assert done.returncode == 1
    assert "'Load Checkpoint' (#1) failed" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in DEFAULT.parent.glob("*.json")))
def test_shipped_workflows_are_valid(name):
    done = cli("validate", str(DEFAULT.parent / name))
    assert done.returncode == 0, done.stderr


def test_nodes_markdown_and_schema_are_generated_from_declarations():
    md = cli("nodes", "--markdown").stdout
    assert "### Sampler" in md and "| steps | INT |" in md
    schema = json.loads(cli("nodes", "--schema").stdout)
    variants = schema["properties"]["nodes"]["items"]["anyOf"]
    sampler = next(v for v in variants if v["properties"]["type"]["const"] == "sampling.sampler")
    assert sampler["properties"]["values"]["properties"]["steps"]["minimum"] == 1


def interrupt_when(marker: str, *args: str) -> tuple[int, str]:
    """Run ``main.py *args``, press Ctrl+C once ``marker`` shows in its stderr; returns the
    exit code and the whole stderr."""
    import signal
    import threading
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), "")))
    reader.start()
    deadline = time.monotonic() + 180
    while marker not in "".join(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    reader.join(timeout=10)
    return code, "".join(seen)


def test_ctrl_c_cancels_cleanly_with_exit_130(workflow_file, tmp_path):
    code, err = interrupt_when("step", "run", str(workflow_file), "--out", str(tmp_path),
                               "--set", "Sampler.steps=1000")
    assert code == 130, err[-2000:]
    assert "cancel" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.png"))
