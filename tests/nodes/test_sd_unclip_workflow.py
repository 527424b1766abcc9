"""The shipped SD 2.1 unCLIP image-variation workflow runs through the real nodes (Load unCLIP
Checkpoint, CLIP Vision Encode, unCLIP Conditioning, Sampler) on a tiny Stable unCLIP folder;
the picture steers the result; user mistakes fail in one line naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow
from node_api.context import RunOptions

WORKFLOW = Path(__file__).resolve().parents[2] / "resources" / "workflows" / (
    "sd21_unclip_variations.json")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from pipelines.testing.tiny_sd_unclip import tiny_sd_unclip_path

    return tiny_sd_unclip_path(tmp_path_factory.mktemp("sd-unclip-nodes"))


def _graph(registry, checkpoint: Path, picture: Path):
    graph = open_workflow(WORKFLOW, registry)
    for node in graph.nodes.values():
        values = {"loaders.unclip_checkpoint": {"checkpoint": str(checkpoint)},
                  "image.load": {"path": str(picture)},
                  "latent.empty": {"width": 32, "height": 32},
                  "sampling.sampler": {"steps": 2}}.get(node.type, {})
        node.values.update(values)
    return graph


def _run(graph, tmp_path: Path, registry):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    return Executor(registry).run(graph, options=options)


def test_variation_workflow_runs_and_the_picture_matters(registry, folder, tmp_path):
    picture = tmp_path / "picture.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(picture)
    graph = _graph(registry, folder, picture)
    first = _run(graph, tmp_path / "a", registry)
    assert first.status == "ok", first.error
    Image.fromarray(255 - np.asarray(Image.open(picture))).save(picture)
    second = _run(graph, tmp_path / "b", registry)
    assert second.status == "ok", second.error
    a, b = (np.asarray(Image.open(r.files[0])).astype(int) for r in (first, second))
    assert a.shape == (32, 32, 3) and np.abs(a - b).max() > 0


def test_a_plain_checkpoint_in_the_unclip_loader_fails_in_one_line(registry, tmp_path):
    from pipelines.testing.tiny import build_tiny_sd

    plain = build_tiny_sd(tmp_path / "plain")
    picture = tmp_path / "picture.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(picture)
    result = _run(_graph(registry, plain, picture), tmp_path / "out", registry)
    assert result.status == "failed"
    assert "not an unCLIP model" in result.error and "checkpoint" in result.error
    assert "\n" not in result.error
