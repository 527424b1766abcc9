"""The demo model shipped in resources/ loads with plain diffusers and follows a prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.demo.evaluate import classify, generate, load_pipeline

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo"

pytestmark = pytest.mark.skipif(
    not (SHIPPED / "model_index.json").exists(),
    reason=f"no trained demo model at {SHIPPED}; train one with `python main.py train-demo`",
)


def test_shipped_model_describes_itself() -> None:
    studio = json.loads((SHIPPED / "studio.json").read_text())
    assert studio["family"] == "demo" and studio["default_size"] == 64
    preview = json.loads((SHIPPED / "preview.json").read_text())
    assert len(preview["latent_rgb_factors"]) == 4
    assert (SHIPPED / "MODEL_CARD.md").exists()


def test_shipped_model_draws_the_prompted_colours() -> None:
    pipe = load_pipeline(SHIPPED)
    prompts = ["a red circle on a blue background", "a large yellow square on black"]
    images = generate(pipe, prompts, [0, 1])
    assert all(im.size == (64, 64) for im in images)
    readings = [classify(im) for im in images]
    assert (readings[0].colour, readings[0].background) == ("red", "blue")
    assert (readings[1].colour, readings[1].background) == ("yellow", "black")
