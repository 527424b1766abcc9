"""The shipped IP-Adapter workflow runs through the real nodes on a tiny random checkpoint, CLIP
vision model and adapter; changing only the reference image re-runs the image, apply, sampler
and decode, never the loaders or the text encoders; a wrong pairing fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow as load_workflow
from node_api.context import RunOptions

WORKFLOW = Path(__file__).resolve().parents[2] / "resources" / "workflows" / \
    "ip_adapter_image_prompt.json"


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_checkpoint):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPVisionConfig

    from pipelines.testing.tiny_ip_adapter import (
        build_tiny_clip_vision,
        ip_adapter_state,
        save_ip_adapter,
    )

    root = tmp_path_factory.mktemp("ip-adapter-nodes")
    vision = build_tiny_clip_vision(root / "vision")
    unet = UNet2DConditionModel.from_pretrained(tiny_checkpoint / "unet")
    state = ip_adapter_state(unet, CLIPVisionConfig.from_pretrained(vision), "plus")
    return vision, save_ip_adapter(state, root / "ip-adapter-plus.safetensors")


def _graph(registry, tiny_checkpoint, parts, picture: Path):
    graph = load_workflow(WORKFLOW, registry)
    for node in graph.nodes.values():
        if node.type == "loaders.checkpoint":
            node.values["checkpoint"] = str(tiny_checkpoint)
        elif node.type == "loaders.clip_vision":
            node.values["clip_vision"] = str(parts[0])
        elif node.type == "loaders.ip_adapter":
            node.values["ipadapter"] = str(parts[1])
        elif node.type == "image.load":
            node.values["path"] = str(picture)
        elif node.type == "latent.empty":
            node.values.update(width=32, height=32)
        elif node.type == "sampling.sampler":
            node.values["steps"] = 3
    return graph


def _ids(graph, *types: str) -> set[str]:
    return {i for i, n in graph.nodes.items() if n.type in types}


def test_workflow_runs_and_only_the_image_side_reruns(registry, tiny_checkpoint, parts,
                                                       tmp_path):
    picture = tmp_path / "reference.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(picture)
    graph = _graph(registry, tiny_checkpoint, parts, picture)
    executor = Executor(registry)

    def run(out: str):
        result = executor.run(graph, options=RunOptions(output_dir=tmp_path / out,
                                                        workflow=to_document(graph)))
        assert result.status == "ok", result.error
        return result, np.asarray(Image.open(result.files[0]))

    first, image_a = run("a")
    assert image_a.shape == (32, 32, 3)
    Image.fromarray(255 - np.asarray(Image.open(picture))).save(picture)
    second, image_b = run("b")
    assert np.abs(image_a.astype(int) - image_b.astype(int)).max() > 0
    loads = _ids(graph, "loaders.checkpoint", "loaders.clip_vision", "loaders.ip_adapter",
                 "conditioning.text_encode")
    reruns = _ids(graph, "image.load", "conditioning.apply_ip_adapter", "sampling.sampler",
                  "vae.decode")
    assert loads <= set(second.cached) and not loads & set(second.executed)
    assert reruns <= set(second.executed)


def test_adapter_with_the_wrong_clip_vision_fails_in_one_line(registry, tiny_checkpoint, parts,
                                                              tmp_path):
    from pipelines.testing.tiny_ip_adapter import build_tiny_clip_vision

    picture = tmp_path / "reference.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(picture)
    graph = _graph(registry, tiny_checkpoint, parts, picture)
    other = build_tiny_clip_vision(tmp_path / "wide-vision", width=48)
    next(n for n in graph.nodes.values() if n.type == "loaders.clip_vision").values[
        "clip_vision"] = str(other)
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed"
    assert "Apply IP-Adapter" in result.error and "CLIP vision" in result.error
    assert "\n" not in result.error


def test_scaling_and_composition_image_through_the_node(registry, tiny_checkpoint, parts,
                                                        tmp_path):
    """K+V scaling changes the image; a composition image with a weight type that does not
    read it fails in one line naming the field."""
    from app.engine.graph import Edge

    picture = tmp_path / "reference.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(picture)
    graph = _graph(registry, tiny_checkpoint, parts, picture)
    apply_id = next(iter(_ids(graph, "conditioning.apply_ip_adapter")))
    executor = Executor(registry)

    def run(out: str):
        return executor.run(graph, options=RunOptions(output_dir=tmp_path / out))

    first = run("v")
    graph.nodes[apply_id].values["embeds_scaling"] = "K+V w/ C penalty"
    second = run("kv")
    assert first.status == second.status == "ok", (first.error, second.error)
    a, b = (np.asarray(Image.open(r.files[0])).astype(int) for r in (first, second))
    assert np.abs(a - b).max() > 0
    image_id = next(iter(_ids(graph, "image.load")))
    graph.edges.append(Edge(image_id, "image", apply_id, "image_composition"))
    failed = run("composition")
    assert failed.status == "failed" and "image_composition" in failed.error
    assert "style and composition" in failed.error and "\n" not in failed.error
