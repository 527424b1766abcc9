"""Fixtures: a tiny random SD1.x checkpoint saved as a diffusers folder, and a txt2img graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.graph import Graph
from app.engine.registry import default_registry


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from pipelines.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def registry():
    return default_registry()


def txt2img_graph(registry, checkpoint: Path, *, steps: int = 4, size: int = 32) -> Graph:
    """Load -> encode (+/-) -> empty latent + noise -> sampler -> decode -> save."""
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1",
          values={"checkpoint": str(checkpoint)})
    g.add("conditioning.text_encode", registry=registry, node_id="2", title="Positive Prompt",
          values={"text": "a red circle"})
    g.add("conditioning.text_encode", registry=registry, node_id="3", title="Negative Prompt",
          values={"text": ""})
    g.add("latent.empty", registry=registry, node_id="4",
          values={"width": size, "height": size, "batch_size": 1})
    g.add("sampling.noise", registry=registry, node_id="5", title="Noise", values={"seed": 7})
    g.add("sampling.sampler", registry=registry, node_id="6", title="Sampler",
          values={"steps": steps, "cfg": 7.5, "sampler": "euler"})
    g.add("vae.decode", registry=registry, node_id="7")
    g.add("image.save", registry=registry, node_id="8", title="Save Image")
    for edge in [("1", "model", "6", "model"), ("1", "clip", "2", "clip"),
                 ("1", "clip", "3", "clip"), ("2", "conditioning", "6", "positive"),
                 ("3", "conditioning", "6", "negative"), ("4", "latent", "6", "latent"),
                 ("5", "noise", "6", "noise"), ("6", "latent", "7", "latent"),
                 ("1", "vae", "7", "vae"), ("7", "image", "8", "image")]:
        g.connect(*edge)
    return g


@pytest.fixture()
def txt2img(registry, tiny_checkpoint) -> Graph:
    return txt2img_graph(registry, tiny_checkpoint)
