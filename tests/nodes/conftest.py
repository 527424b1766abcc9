"""Fixtures: a tiny random SD1.x checkpoint saved as a diffusers folder, and a txt2img graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.graph import Graph
from app.engine.registry import default_registry
from app.interop import recipes


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def registry():
    return default_registry()


def txt2img_graph(registry, checkpoint: Path, *, steps: int = 4, size: int = 32) -> Graph:
    """Load -> encode (+/-) -> empty latent + noise -> sampler -> decode -> save."""
    return recipes.txt2img(registry, checkpoint=str(checkpoint), prompt="a red circle",
                           width=size, height=size, seed=7,
                           sampler={"steps": steps, "cfg": 7.5, "sampler": "euler"})


@pytest.fixture()
def txt2img(registry, tiny_checkpoint) -> Graph:
    return txt2img_graph(registry, tiny_checkpoint)
