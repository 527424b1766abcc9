"""A folder's model_index.json never makes us build anything but a model, tokenizer or image
processor class of diffusers/transformers, even for the permissive ``unknown`` family; named
families take only their listed classes."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.errors import ModelLoadError
from pipelines.loading.checkpoint import load_checkpoint


@pytest.fixture()
def model_copy(tiny_dir, tmp_path):
    return shutil.copytree(tiny_dir, tmp_path / "model")


def with_component(folder, name, entry, family=None):
    index = json.loads((folder / "model_index.json").read_text())
    index[name] = entry
    (folder / "model_index.json").write_text(json.dumps(index))
    if family:
        (folder / "studio.json").write_text(json.dumps({"family": family}))


@pytest.mark.parametrize(
    ("name", "entry", "why"),
    [
        ("text_encoder", ["transformers", "AutoModel"], "an auto class"),
        ("text_encoder", ["transformers", "AutoModelForCausalLM"], "an auto class"),
        ("text_encoder", ["transformers", "pipeline"], "not a class"),
        ("text_encoder", ["transformers", "CLIPTokenizer"], "not a model class"),
        ("tokenizer", ["transformers", "CLIPTextModel"], "not a tokenizer"),
        ("tokenizer", ["transformers", "AutoTokenizer"], "an auto class"),
        ("unet", ["diffusers", "DiffusionPipeline"], "not a model class"),
        ("unet", ["diffusers", "StableDiffusionPipeline"], "not a model class"),
        ("vae", ["diffusers", "DDIMScheduler"], "not a model class"),
        ("unet", ["diffusers", "utils"], "not a class"),
    ],
)
def test_unknown_family_builds_only_model_classes(model_copy, name, entry, why):
    with_component(model_copy, name, entry)
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(model_copy)
    message = str(info.value)
    assert str(model_copy / "model_index.json") in message and why in message, message
    assert f"{entry[0]}.{entry[1]}" in message


def test_unknown_family_still_loads_what_it_holds(model_copy):
    model, clip, _ = load_checkpoint(model_copy)
    assert model.family == "unknown" and clip.text_encoder is not None


@pytest.mark.parametrize("entry", [["transformers", "AutoModel"],
                                   ["transformers", "T5EncoderModel"]])
def test_named_family_takes_only_its_listed_classes(model_copy, entry):
    with_component(model_copy, "text_encoder", entry, family="sd1")
    with pytest.raises(ModelLoadError, match="this model family takes transformers.CLIPTextModel"):
        load_checkpoint(model_copy)
