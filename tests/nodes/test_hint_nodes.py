"""The preprocessor nodes through the executor: each shows its hint image as a preview event
(what the canvas puts on the node), Canny equals the pipeline function, Depth (model) reads a
folder from the preprocessors model folder, and bad values fail in one line naming the field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions
from node_api.events import StepProgress

HINT_NODES = ["hints.canny", "hints.soft_edges", "hints.grayscale", "hints.invert",
              "hints.resize_to_model", "hints.tile"]


@pytest.fixture()
def picture(tmp_path):
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[16:48, 16:48] = (250, 200, 40)
    path = tmp_path / "square.png"
    Image.fromarray(image).save(path)
    return path


def _run(registry, picture, hint_type: str, values=None, tmp_path=None):
    graph = Graph()
    graph.add("image.load", registry=registry, node_id="1", values={"path": str(picture)})
    graph.add(hint_type, registry=registry, node_id="2", values=values or {})
    graph.connect("1", "image", "2", "image")
    events = []
    result = Executor(registry).run(graph, targets=["2"], listeners=[events.append],
                                    options=RunOptions(output_dir=tmp_path))
    return result, [e for e in events if isinstance(e, StepProgress) and e.node_id == "2"]


@pytest.mark.parametrize("hint_type", HINT_NODES)
def test_every_hint_node_shows_its_image(registry, picture, tmp_path, hint_type):
    result, shown = _run(registry, picture, hint_type, tmp_path=tmp_path)
    assert result.status == "ok", result.error
    image = result.outputs["2"][0]
    assert image.dim() == 4 and image.shape[-1] == 3
    assert len(shown) == 1 and shown[0].preview is not None
    expected = (image[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(shown[0].preview, expected)


def test_canny_node_is_the_pipeline_canny(registry, picture, tmp_path):
    from pipelines import hints
    from pipelines.image import from_pil

    result, _ = _run(registry, picture, "hints.canny",
                     {"low_threshold": 0.2, "high_threshold": 0.5}, tmp_path)
    expected = hints.canny(from_pil(Image.open(picture)), 0.2, 0.5)
    assert torch.equal(result.outputs["2"][0], expected)


def test_bad_thresholds_fail_in_one_line(registry, picture, tmp_path):
    result, _ = _run(registry, picture, "hints.canny",
                     {"low_threshold": 0.9, "high_threshold": 0.3}, tmp_path)
    assert result.status == "failed"
    assert "low_threshold" in result.error and "\n" not in result.error


def test_depth_node_reads_the_preprocessors_folder(registry, picture, tmp_path, monkeypatch):
    from pipelines.testing.tiny_depth import build_tiny_depth_anything

    models = tmp_path / "models"
    build_tiny_depth_anything(models / "preprocessors" / "depth-anything-tiny")
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    result, shown = _run(registry, picture, "hints.depth", {"model": "depth-anything-tiny"},
                         tmp_path)
    assert result.status == "ok", result.error
    depth = result.outputs["2"][0]
    assert depth.shape == (1, 64, 64, 3) and depth.amax() == pytest.approx(1.0)
    assert len(shown) == 1
    from nodes._models import list_models

    (picked,) = list_models("preprocessors")  # what the picker offers: the weights file
    result, _ = _run(registry, picture, "hints.depth", {"model": picked}, tmp_path)
    assert result.status == "ok", result.error


def test_pose_node_takes_an_optional_person_detector(registry, picture, tmp_path, monkeypatch):
    from pipelines.testing.tiny_depth import build_tiny_rtdetr, build_tiny_vitpose

    models = tmp_path / "models"
    build_tiny_vitpose(models / "preprocessors" / "vitpose-tiny")
    build_tiny_rtdetr(models / "preprocessors" / "rtdetr-tiny")
    build_tiny_rtdetr(models / "preprocessors" / "cats", labels=("cat",))
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    values = {"model": "vitpose-tiny", "threshold": 0.0}
    alone, _ = _run(registry, picture, "hints.pose", values, tmp_path)
    people, shown = _run(registry, picture, "hints.pose", {**values, "detector": "rtdetr-tiny"},
                         tmp_path)
    assert alone.status == people.status == "ok", (alone.error, people.error)
    assert people.outputs["2"][0].shape == (1, 64, 64, 3) and len(shown) == 1
    assert not torch.equal(alone.outputs["2"][0], people.outputs["2"][0])  # other boxes
    refused, _ = _run(registry, picture, "hints.pose", {**values, "detector": "cats"}, tmp_path)
    assert refused.status == "failed" and "person" in refused.error
    assert "\n" not in refused.error
