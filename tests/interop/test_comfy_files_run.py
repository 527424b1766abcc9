"""File-level imports run on tiny models: a ComfyUI file with a broken branch runs the rest
from the command line, and an A1111 hires-fix infotext runs both passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from app.engine.executor import Executor
from app.interop.a1111 import graph_from_parameters
from node_api.context import RunOptions
from tests.interop import comfy_docs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


def test_run_saves_the_working_output_and_reports_the_broken_one(checkpoint, tmp_path, capsys):
    from app.cli.main import main

    doc = comfy_docs.api()
    doc["4"]["inputs"]["ckpt_name"] = str(checkpoint)
    doc["5"]["inputs"].update(width=32, height=32)
    doc["3"]["inputs"]["steps"] = 2
    doc["20"] = {"class_type": "UltimateSDUpscale", "inputs": {"image": ["8", 0]}}
    doc["21"] = {"class_type": "SaveImage", "inputs": {
        "filename_prefix": "upscaled", "images": ["20", 0]}}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--device", "cpu", "-q"]) == 0
    err = capsys.readouterr().err
    assert "node #20 (UltimateSDUpscale) cannot be mapped" in err and "Traceback" not in err
    saved = sorted(p.name for p in out.rglob("*.png"))
    assert len(saved) == 1 and saved[0].startswith("ComfyUI")


def test_an_a1111_hires_fix_runs_both_passes(registry, checkpoint, tmp_path):
    plain = (f"a red circle\nSteps: 2, Sampler: Euler, CFG scale: 5, Seed: 3, Size: 32x32, "
             f"Model: {checkpoint}")
    sizes = []
    for text in (plain, plain + ", Denoising strength: 0.5, Hires upscale: 2, Hires steps: 2, "
                                "Hires upscaler: Latent (bicubic)"):
        graph = graph_from_parameters(text, registry)
        result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
        assert result.status == "ok", result.error
        [file] = result.files
        sizes.append(Image.open(file).size)
    assert sizes[1] == (2 * sizes[0][0], 2 * sizes[0][1])  # the second pass at twice the size
