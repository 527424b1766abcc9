"""A few-step smoke training run gives a reproducible, plain-diffusers-loadable folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from safetensors.torch import load_file

from pipelines.demo.evaluate import generate, load_pipeline
from pipelines.demo.train import train_demo

_SMOKE = {"steps": 4, "vae_steps": 3, "batch_size": 4, "vae_batch_size": 4, "bank_size": 32,
          "progress": False, "grid_steps": 2}
_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors")


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_demo(tmp_path_factory.mktemp("run") / "demo", seed=3, **_SMOKE)


def test_smoke_run_writes_a_complete_model_folder(smoke_model: Path) -> None:
    index = json.loads((smoke_model / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None] and index["requires_safety_checker"] is False
    studio = json.loads((smoke_model / "studio.json").read_text())
    assert studio["family"] == "demo" and studio["default_size"] == 64
    preview = json.loads((smoke_model / "preview.json").read_text())
    assert len(preview["latent_rgb_factors"]) == 4
    assert all(len(row) == 3 for row in preview["latent_rgb_factors"])
    assert len(preview["latent_rgb_bias"]) == 3
    assert Image.open(smoke_model / "loss.png").size[0] > 300
    assert Image.open(smoke_model / "samples.png").size[0] > 300
    assert sum(f.stat().st_size for f in smoke_model.rglob("*") if f.is_file()) < 30e6
    assert not list(smoke_model.parent.glob(".demo-train-*"))  # temp folder cleaned up


def test_smoke_model_generates_64px_images_with_plain_diffusers(smoke_model: Path) -> None:
    pipe = load_pipeline(smoke_model)
    assert pipe.vae_scale_factor == 4
    images = generate(pipe, ["a red circle on a blue background"], [0], steps=2)
    assert images[0].size == (64, 64)


def test_same_seed_gives_identical_weights(smoke_model: Path, tmp_path: Path) -> None:
    again = train_demo(tmp_path / "again", seed=3, **_SMOKE)
    for name in _WEIGHTS:
        first, second = load_file(smoke_model / name), load_file(again / name)
        assert first.keys() == second.keys()
        assert all((first[k] == second[k]).all() for k in first), name


def test_refuses_to_overwrite_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a model folder"):
        train_demo(tmp_path, **_SMOKE)
    assert (tmp_path / "notes.txt").read_text() == "mine"
