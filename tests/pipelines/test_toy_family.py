"""Proof that a model family is data: a toy family defined here, in the test, with its own
component folders, latent format (3 channels, 2x spatial factor) and denoiser call, runs
through the real engine (Load Checkpoint -> Text Encode -> Empty Latent -> Sampler -> VAE
Decode) without a single edit to ``pipelines``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.registry import default_registry
from app.interop import recipes
from node_api.context import RunOptions
from pipelines.families import (
    Component,
    LatentFormat,
    ModelFamily,
    get_family,
    register_family,
    unregister_family,
)
from pipelines.testing.tiny import build_tokenizer


class ToyFamily(ModelFamily):
    """A UNet kept in a ``denoiser/`` folder over 3-channel latents at half resolution."""

    id = "toy"
    label = "Toy (test)"
    denoiser = "denoiser"
    components = (
        Component("denoiser", ("diffusers.UNet2DConditionModel",), "denoiser"),
        Component("vae", ("diffusers.AutoencoderKL",), "vae"),
        Component("scheduler", ("diffusers.*",), "scheduler"),
        Component("text_encoder", ("transformers.CLIPTextModel",), "text_encoder", False),
        Component("tokenizer", ("transformers.CLIPTokenizer",), "tokenizer", False),
    )
    latent = LatentFormat(channels=3, scaling_factor=0.5, spatial_factor=2,
                          rgb_factors=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
    native_size = 16
    default_cfg = 3.0

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return denoiser_config.get("in_channels") == 3

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def call_denoiser(self, model: Any, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        return super().call_denoiser(model, x, t, inputs)


def _save_toy_model(folder: Path) -> Path:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = build_tokenizer(scratch)
    torch.manual_seed(0)
    denoiser = UNet2DConditionModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=3,
                        block_out_channels=(8, 16), norm_num_groups=8,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=len(tokenizer) - 2,
        eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1))
    for name, part in (("denoiser", denoiser), ("vae", vae), ("text_encoder", text),
                       ("tokenizer", tokenizer), ("scheduler", EulerDiscreteScheduler())):
        part.save_pretrained(folder / name)
    index = {"denoiser": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "studio.json").write_text(json.dumps({"family": "toy"}))
    return folder


@pytest.fixture()
def toy_family():
    family = register_family(ToyFamily())
    yield family
    unregister_family(family.id)


def test_a_family_defined_in_a_test_runs_through_the_engine(toy_family, tmp_path):
    folder = _save_toy_model(tmp_path / "toy-model")
    registry = default_registry()
    graph = recipes.txt2img(registry, checkpoint=str(folder), prompt="a toy", width=16,
                            height=16, seed=3, sampler={"steps": 3, "cfg": 2.0},
                            output="image.save")
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "ok", result.error
    image = np.asarray(Image.open(result.files[0]))
    assert image.shape == (16, 16, 3)
    # the toy family's own denoiser call ran every step, on [uncond, cond] 3-channel latents
    # at 16 / 2 = 8 pixels
    assert toy_family.calls == [(2, 3, 8, 8)] * 3


def test_a_registered_family_is_recognised_from_its_configs(toy_family, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint

    folder = _save_toy_model(tmp_path / "toy-model")
    (folder / "studio.json").unlink()  # no explicit family: the toy's matches_config decides
    model, clip, vae = load_checkpoint(folder)
    assert (model.family, clip.family) == ("toy", "toy")
    assert model.latent_channels == 3 and model.vae_scale_factor == 2
    assert model.latent_rgb_factors == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_an_unregistered_family_falls_back_to_the_unknown_rules():
    assert get_family("no-such-family").id == "unknown"
