"""The shipped ControlNet + LoRA + hires-fix workflow on tiny models: it runs both passes at
their sizes, the LoRA and the control both change the image, and changing the LoRA strength
re-runs neither the checkpoint nor the ControlNet load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from app.engine.executor import Executor
from app.interop.open import open_workflow
from node_api.context import RunOptions
from node_api.events import NodeCached, NodeStarted

WORKFLOW = (Path(__file__).resolve().parents[2] / "resources" / "workflows"
            / "controlnet_lora_hires.json")


@pytest.fixture(scope="module")
def files(tiny_checkpoint, tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny_control import build_tiny_controlnet
    from tests.pipelines.test_lora import make_lora

    root = tmp_path_factory.mktemp("cn-lora-hires")
    model, clip, _ = load_checkpoint(tiny_checkpoint)
    lora = root / "tiny_lora.safetensors"
    save_file({k: v.contiguous() for k, v in make_lora(model, clip, "kohya").items()}, str(lora))
    photo = root / "photo.png"
    pixels = np.zeros((48, 48, 3), dtype=np.uint8)
    pixels[10:38, 14:30] = 255  # a bright block: Canny finds its edges
    Image.fromarray(pixels).save(photo)
    return build_tiny_controlnet(tiny_checkpoint, root / "cn"), lora, photo


def _graph(registry, checkpoint, files):
    controlnet, lora, photo = files
    graph = open_workflow(WORKFLOW, registry)
    values = {"loaders.checkpoint": {"checkpoint": str(checkpoint)},
              "loaders.lora": {"lora": str(lora)},
              "loaders.controlnet": {"control_net": str(controlnet)},
              "image.load": {"path": str(photo)},
              "latent.empty": {"width": 32, "height": 32}}
    for node in graph.nodes.values():
        node.values.update(values.get(node.type, {}))
        if node.type == "sampling.sampler":
            node.values["steps"] = 2
    return graph


def _run(executor, graph, out, events=None):
    result = executor.run(graph, options=RunOptions(output_dir=out),
                          listeners=[events.append] if events is not None else [])
    assert result.status == "ok", result.error
    return np.asarray(Image.open(result.files[-1]), dtype=np.int16)


def test_controlnet_lora_hires_workflow_runs(registry, tiny_checkpoint, files, tmp_path):
    executor = Executor(registry)
    graph = _graph(registry, tiny_checkpoint, files)
    image = _run(executor, graph, tmp_path / "a")
    assert image.shape == (64, 64, 3)  # the hires pass doubled the 32 px first pass
    graph.nodes["2"].values["strength_model"] = 0.0
    events: list = []
    without_lora = _run(executor, graph, tmp_path / "b", events)
    cached = {e.node_id for e in events if isinstance(e, NodeCached)}
    started = {e.node_id for e in events if isinstance(e, NodeStarted)}
    assert {"1", "5", "6", "7"} <= cached and "2" in started  # no model or ControlNet reload
    assert np.abs(image - without_lora).max() > 0
    graph.nodes["2"].values["strength_model"] = 0.8
    graph.nodes["8"].values["strength"] = 0.0
    without_control = _run(executor, graph, tmp_path / "c")
    assert np.abs(image - without_control).max() > 0
