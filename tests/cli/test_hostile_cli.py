"""Hostile input at the command line: one line and exit 2 for bad files and arguments, a
listing that survives broken model files, Ctrl+C during start-up, PNGs that open again."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli.main import main
from tests.interop import comfy_docs

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "resources" / "workflows" / "default.json"


def run_main(capsys, *args: str) -> tuple[int | None, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "doc",
    [
        '{"format": "diffusion-studio/workflow", "version": -1, "nodes": []}',
        "[" * 5_000 + "]" * 5_000,
        json.dumps({**comfy_docs.api(), "3": {"class_type": "KSampler",
                                              "inputs": {"steps": None}}}),
    ],
)
def test_validate_says_one_line_and_exits_2(tmp_path, capsys, doc):
    path = tmp_path / "wf.json"
    path.write_text(doc)
    code, err = run_main(capsys, "validate", str(path))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ")
    assert "Traceback" not in err


def test_validate_refuses_what_comfyui_refuses(tmp_path, capsys):
    for inputs in ({"seed": None}, {"seed": 1e308}, {"sampler_name": 5}, {"scheduler": None}):
        doc = comfy_docs.api()
        doc["3"]["inputs"].update(inputs)
        path = tmp_path / "api.json"
        path.write_text(json.dumps(doc))
        code, err = run_main(capsys, "validate", str(path))
        assert code == 2 and "node #3 (KSampler) field" in err, (inputs, err)


def test_negative_preview_interval_is_a_bad_argument(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(DEFAULT), "--preview-vae-every", "-1"])
    assert info.value.code == 2
    assert "--preview-vae-every" in capsys.readouterr().err


def test_mps_without_mps_is_a_bad_argument_before_anything_runs(tmp_path, capsys):
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    code, err = run_main(capsys, "run", str(DEFAULT), "--device", "mps", "--out",
                         str(tmp_path))
    assert code == 2 and "--device mps" in err
    assert not any(tmp_path.iterdir())


def fake_safetensors(path: Path, header: object) -> Path:
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    return path


def test_models_lists_every_file_and_marks_the_broken_ones(tmp_path, capsys, monkeypatch):
    user = tmp_path / "models"
    checkpoints = user / "checkpoints"
    checkpoints.mkdir(parents=True)
    good = {"lora_down.weight": {"dtype": "F16", "shape": [4, 4], "data_offsets": [0, 0]}}
    fake_safetensors(checkpoints / "a_good.safetensors", good)
    entry = {"dtype": "F16", "shape": 7, "data_offsets": [0, 0]}
    fake_safetensors(checkpoints / "b_int_shape.safetensors",
                     {"model.diffusion_model.input_blocks.0.0.weight": entry})
    one_d = {"dtype": "F16", "shape": [320], "data_offsets": [0, 0]}
    fake_safetensors(checkpoints / "c_one_d.safetensors",
                     {"model.diffusion_model.input_blocks.0.0.weight": one_d})
    fake_safetensors(checkpoints / "d_deep.safetensors",
                     b"[" * 10_000 + b"]" * 10_000)
    for name, studio in (("e_garbage", "{not json"), ("f_list", "[1, 2]"),
                         ("g_family_int", '{"family": 5}')):
        folder = checkpoints / name
        folder.mkdir()
        (folder / "model_index.json").write_text("{}")
        (folder / "studio.json").write_text(studio)
    monkeypatch.setenv("STUDIO_MODELS", str(user))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    code = main(["models"])
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ")}
    assert "lora" in lines["a_good.safetensors"]
    for name in ("b_int_shape.safetensors", "d_deep.safetensors", "e_garbage", "f_list",
                 "g_family_int"):
        assert "unreadable" in lines[name], out
    assert "checkpoint" in lines["c_one_d.safetensors"]  # 1-D: the family is unknown


def test_ctrl_c_while_importing_exits_130_without_a_traceback(monkeypatch, capsys):
    import main as entry_point

    def interrupted(argv: list[str] | None = None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(entry_point, "main", interrupted)
    assert entry_point.entry() == 130
    assert capsys.readouterr().err.strip() == "cancelled"


def test_ctrl_c_at_start_up_in_a_real_process():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # The interpreter itself is started first (a Ctrl+C inside its own start-up, before any
    # of our code runs, is Python's to report); then main.py runs as `python main.py` would.
    start = ("import sys; sys.argv = sys.argv[1:]; path = sys.argv[0]; "
             "code = compile(open(path).read(), path, 'exec'); print('ready', flush=True); "
             "exec(code, {'__name__': '__main__', '__file__': path})")
    for delay in (0.05, 0.2, 0.5):
        process = subprocess.Popen(
            [sys.executable, "-c", start, str(ROOT / "main.py"), "validate", str(DEFAULT)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert process.stdout.readline().strip() == "ready"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert "Traceback" not in err, err
        # -SIGINT: killed before Python installed its handler (the shell says 130 too)
        assert process.returncode in (0, 130, -signal.SIGINT), (process.returncode, err)


def test_a_workflow_too_large_to_read_back_is_not_embedded(tmp_path, monkeypatch, caplog):
    import torch

    import app.engine.workflow as workflow
    import node_api.files as files
    from app.engine.registry import default_registry
    from app.interop.open import open_workflow
    from nodes._images import save

    registry = default_registry()
    doc = workflow.to_document(open_workflow(DEFAULT, registry))
    size = len(json.dumps(doc))
    monkeypatch.setattr(workflow, "MAX_WORKFLOW_CHARS", size + 10)  # read
    monkeypatch.setattr(files, "MAX_WORKFLOW_CHARS", size + 10)  # embedded
    image = torch.zeros(1, 8, 8, 3)
    (small,) = save(image, tmp_path, "small", doc)
    assert open_workflow(small, registry).nodes  # what is embedded opens again
    doc["metadata"] = {**doc["metadata"], "notes": "x" * 100}
    (large,) = save(image, tmp_path, "large", doc)
    assert large.exists() and "larger than" in caplog.text
    with pytest.raises(workflow.WorkflowError, match="carries no workflow"):
        open_workflow(large, registry)
    monkeypatch.setattr(workflow, "MAX_WORKFLOW_CHARS", 100)
    with pytest.raises(workflow.WorkflowError, match="too large"):
        open_workflow(small, registry)
