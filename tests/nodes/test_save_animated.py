"""Save Animated: one file per batch with a frame per image, ComfyUI's WEBP/PNG settings, the
workflow embedded (WEBP: EXIF as ComfyUI puts its own; PNG: the same chunk as Save Image),
names claimed without ever overwriting (the gallery: tests/gui/test_animated_gallery.py)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image, ImageSequence

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions
from nodes._animated import encode_animation, save_animated

WORKFLOW = {"format": "diffusion-studio/workflow", "nodes": [], "links": []}


def _frames(count: int = 3) -> torch.Tensor:
    frames = torch.zeros(count, 16, 24, 3)
    for i in range(count):
        frames[i, :, :, i % 3] = 1.0  # red, green, blue
    return frames


@pytest.mark.parametrize("fmt", ["webp", "png", "gif"])
def test_one_file_a_frame_per_image(tmp_path, fmt):
    path = save_animated(_frames(), tmp_path, "clip", WORKFLOW, fmt, 4.0)
    assert path == tmp_path / f"clip_00001.{fmt}"
    with Image.open(path) as saved:
        assert saved.format == fmt.upper() and saved.size == (24, 16)
        assert getattr(saved, "n_frames", 1) == 3
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(saved)]
        durations = saved.info.get("duration")
    assert [f.getpixel((5, 5)) for f in frames] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert durations == 250  # 1000 / fps milliseconds


def test_workflow_is_embedded_in_webp_and_png(tmp_path):
    webp = save_animated(_frames(), tmp_path, "a", WORKFLOW, "webp", 6.0)
    with Image.open(webp) as saved:
        make = saved.getexif()[0x010F]
    assert make.startswith("workflow:") and json.loads(make[len("workflow:"):]) == WORKFLOW
    png = save_animated(_frames(), tmp_path, "a", WORKFLOW, "png", 6.0)
    with Image.open(png) as saved:
        assert json.loads(saved.text["workflow"]) == WORKFLOW


def test_webp_settings_reach_the_encoder():
    lossless = encode_animation(_frames(), "webp", 6.0, None, lossless=True)
    lossy = encode_animation(_frames(), "webp", 6.0, None, lossless=False, quality=10)
    assert b"VP8L" in lossless and b"VP8L" not in lossy  # lossless vs lossy bitstreams
    with pytest.raises(ValueError, match="frame rate"):
        encode_animation(_frames(), "webp", 0.0, None)


def test_names_are_claimed_and_nothing_is_overwritten(tmp_path):
    (tmp_path / "clip_00001.webp").write_bytes(b"someone else's file")
    first = save_animated(_frames(), tmp_path, "clip", None, "webp", 6.0)
    second = save_animated(_frames(), tmp_path, "clip", None, "webp", 6.0)
    assert (first.name, second.name) == ("clip_00002.webp", "clip_00003.webp")
    assert (tmp_path / "clip_00001.webp").read_bytes() == b"someone else's file"
    assert not list(tmp_path.glob(".*.tmp"))


def test_node_in_a_run_reports_the_file(registry, tiny_checkpoint, tmp_path):
    from tests.nodes.conftest import txt2img_graph

    graph: Graph = txt2img_graph(registry, tiny_checkpoint, steps=1, size=32)
    graph.nodes["4"].values["batch_size"] = 2
    graph.remove("8")
    graph.add("image.save_animated", registry=registry, node_id="8",
              values={"filename_prefix": "run", "fps": 2.0})
    graph.connect("7", "image", "8", "image")
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
    assert result.status == "ok", result.error
    assert list(result.files) == [str(tmp_path / "run_00001.webp")]
    with Image.open(tmp_path / "run_00001.webp") as saved:
        assert saved.n_frames == 2
