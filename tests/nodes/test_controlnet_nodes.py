"""The shipped ControlNet workflow through the real nodes on tiny models: it runs, the control
changes the image, and changing only the hint image re-runs Load Image, Apply ControlNet and
what follows, never the model loads or the text encoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow as load_workflow
from node_api.context import RunOptions
from node_api.events import NodeCached, NodeStarted

WORKFLOW = Path(__file__).resolve().parents[2] / "resources" / "workflows" / "controlnet_canny.json"


@pytest.fixture(scope="module")
def controlnet_dir(tiny_checkpoint, tmp_path_factory) -> Path:
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return build_tiny_controlnet(tiny_checkpoint, tmp_path_factory.mktemp("cn") / "tiny-cn")


def _hint(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _graph(registry, checkpoint: Path, controlnet: Path, hint: Path):
    graph = load_workflow(WORKFLOW, registry)
    for node in graph.nodes.values():
        if node.type == "loaders.checkpoint":
            node.values["checkpoint"] = str(checkpoint)
        elif node.type == "loaders.controlnet":
            node.values["control_net"] = str(controlnet)
        elif node.type == "image.load":
            node.values["path"] = str(hint)
        elif node.type == "latent.empty":
            node.values.update(width=32, height=32)
        elif node.type == "sampling.sampler":
            node.values["steps"] = 3
    return graph


def _run(executor, graph, tmp_path: Path, events: list | None = None):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = executor.run(graph, options=options, listeners=[events.append] if events is not None
                          else [])
    assert result.status == "ok", result.error
    return np.asarray(Image.open(result.files[-1]), dtype=np.int16)


def test_workflow_runs_and_only_the_hint_path_reruns(registry, tiny_checkpoint, controlnet_dir,
                                                      tmp_path):
    executor = Executor(registry)
    graph = _graph(registry, tiny_checkpoint, controlnet_dir, _hint(tmp_path / "a.png", 1))
    first = _run(executor, graph, tmp_path)
    graph.nodes["9"].values["path"] = str(_hint(tmp_path / "b.png", 2))
    events: list = []
    second = _run(executor, graph, tmp_path, events)
    started = {e.node_id for e in events if isinstance(e, NodeStarted)}
    cached = {e.node_id for e in events if isinstance(e, NodeCached)}
    assert started == {"9", "11", "6", "7", "8"}  # hint, apply, sampler, decode, save
    assert {"1", "2", "3", "10"} <= cached  # checkpoint, both prompts, ControlNet load
    assert np.abs(first - second).max() > 0  # the hint steers the image

    # without the control the image is another one
    graph.remove("11")
    graph.connect("2", "conditioning", "6", "positive")
    graph.connect("3", "conditioning", "6", "negative")
    assert np.abs(_run(executor, graph, tmp_path) - second).max() > 0


def test_a_file_that_is_no_controlnet_names_the_file(registry, tiny_checkpoint, tmp_path):
    import torch
    from safetensors.torch import save_file

    bogus = tmp_path / "not_a_controlnet.safetensors"
    save_file({"weight": torch.zeros(2)}, str(bogus))
    graph = _graph(registry, tiny_checkpoint, bogus, _hint(tmp_path / "h.png", 3))
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed"
    assert "not_a_controlnet.safetensors" in str(result.error)
    assert "Traceback" not in str(result.error)
