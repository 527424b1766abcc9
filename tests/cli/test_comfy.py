"""ComfyUI files on the command line: run and batch an API-format file on the tiny model,
and export our workflows to ComfyUI's API format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.test_cli import DEFAULT, cli
from tests.interop import comfy_docs


@pytest.fixture(scope="module")
def comfy_file(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    base = tmp_path_factory.mktemp("comfy")
    checkpoint = build_tiny_sd(base / "tiny")
    doc = comfy_docs.api()
    doc["4"]["inputs"]["ckpt_name"] = str(checkpoint)
    doc["5"]["inputs"].update(width=32, height=32)
    doc["3"]["inputs"].update(steps=2, seed=11, sampler_name="dpmpp_2m", scheduler="karras")
    path = base / "comfy_api.json"
    path.write_text(json.dumps(doc))
    return path


def test_run_and_batch_a_comfyui_api_file(comfy_file, tmp_path):
    done = cli("run", str(comfy_file), "--out", str(tmp_path / "run"), "--device", "cpu",
               "--set", "Positive Prompt.text=a red circle")
    assert done.returncode == 0, done.stderr
    png = next((tmp_path / "run").glob("*.png"))
    embedded = json.loads(Image.open(png).text["workflow"])
    assert embedded["format"] == "diffusion-studio/workflow"  # saved as our own workflow
    assert "Seed: 11" in Image.open(png).text["parameters"]
    again = cli("validate", str(png))  # the written PNG opens again
    assert again.returncode == 0, again.stderr

    out = tmp_path / "batch"
    done = cli("batch", str(comfy_file), "--sweep", "Noise.seed=1,2", "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    lines = (out / "manifest.jsonl").read_text().splitlines()
    seeds = [json.loads(line)["seed"] for line in lines]
    assert seeds == [1, 2] and len(list(out.glob("*.png"))) == 2


def test_export_writes_comfy_api_and_names_unmappable_nodes(tmp_path):
    target = tmp_path / "exported.json"
    done = cli("export", "--format", "comfy-api", str(DEFAULT), "-o", str(target))
    assert done.returncode == 0, done.stderr
    prompt = json.loads(target.read_text())
    assert {n["class_type"] for n in prompt.values()} >= {
        "CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"}
    assert cli("validate", str(target)).returncode == 0  # and it opens back

    doc = json.loads(DEFAULT.read_text())
    doc["nodes"].append({"id": "99", "type": "sampling.add_noise", "title": "Forward",
                         "values": {}})
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc))
    done = cli("export", str(odd))
    assert done.returncode == 2 and "'Forward' (#99)" in done.stderr
    assert "Traceback" not in done.stderr

    comfy = tmp_path / "gligen.json"
    api = comfy_docs.api()
    api["10"] = {"class_type": "FancyCustomLoader", "inputs": {"ckpt_name": "c.ckpt"}}
    comfy.write_text(json.dumps(api))
    done = cli("validate", str(comfy))  # nothing needs it: opens, its node named
    assert done.returncode == 0 and "node #10 (FancyCustomLoader) cannot be mapped" in done.stderr
    api["9"]["inputs"]["images"] = ["10", 0]  # the only output needs it: refused
    comfy.write_text(json.dumps(api))
    done = cli("validate", str(comfy))
    assert done.returncode == 2 and "FancyCustomLoader" in done.stderr
