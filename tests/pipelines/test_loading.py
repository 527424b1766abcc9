"""load_checkpoint: what a loaded model looks like, family detection, and user-facing errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from pipelines.errors import ModelLoadError, PipelineError
from pipelines.families import detect_family, get_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.values import DiffusionModel, TextEncoder, Vae

SDXL_LATENT_RGB_FACTORS = [list(row) for row in get_family("sdxl").latent.rgb_factors]


@pytest.fixture()
def model_copy(tiny_dir, tmp_path):
    """A private copy of the tiny checkpoint that a test may damage."""
    return shutil.copytree(tiny_dir, tmp_path / "model")


def test_loaded_model_description(tiny, tiny_dir):
    model, clip, vae = tiny
    assert isinstance(model, DiffusionModel) and isinstance(clip, TextEncoder)
    assert isinstance(vae, Vae)
    assert model.family == "unknown"  # cross-attention dim 32 is no real family's
    assert model.latent_channels == 4 and model.vae_scale_factor == 2
    assert model.prediction_type == "epsilon"
    assert model.scheduler_config["beta_schedule"] == "scaled_linear"
    assert model.latent_rgb_factors is None and model.latent_rgb_bias is None
    assert model.source == str(tiny_dir) == clip.source == vae.source
    assert vae.scaling_factor == pytest.approx(0.18215) and vae.shift_factor is None
    assert clip.tokenizer.model_max_length == 77 and clip.text_encoder_2 is None
    for net in (model.denoiser, clip.text_encoder, vae.vae):
        assert not net.training
        assert not any(p.requires_grad for p in net.parameters())
        assert next(net.parameters()).dtype == torch.float32


def test_sdxl_checkpoint_loads_as_sdxl(tiny_sdxl):
    model, clip, _ = tiny_sdxl
    assert model.family == "sdxl"
    assert model.latent_rgb_factors == SDXL_LATENT_RGB_FACTORS
    assert clip.text_encoder_2 is not None and clip.tokenizer_2 is not None


def test_dtype_argument(tiny_dir):
    model, clip, vae = load_checkpoint(tiny_dir, dtype=torch.bfloat16)
    assert model.denoiser.dtype == clip.text_encoder.dtype == vae.vae.dtype == torch.bfloat16


def test_preview_json_and_studio_json_override(model_copy):
    factors = [[0.1, 0.2, 0.3], [0.0, 0.0, 0.0], [1, 1, 1], [-1, 0, 1]]
    (model_copy / "preview.json").write_text(
        json.dumps({"latent_rgb_factors": factors, "latent_rgb_bias": [0.5, 0, 0]})
    )
    (model_copy / "studio.json").write_text(json.dumps({"family": "demo"}))
    model, _, _ = load_checkpoint(model_copy)
    assert model.family == "demo"
    assert model.latent_rgb_factors == factors and model.latent_rgb_bias == [0.5, 0, 0]


@pytest.mark.parametrize(
    ("unet_config", "model_index", "expected"),
    [
        ({"cross_attention_dim": 768}, {}, "sd1"),
        ({"cross_attention_dim": 1024}, {}, "sd2"),
        ({"cross_attention_dim": 2048, "addition_embed_type": "text_time"}, {}, "sdxl"),
        ({"cross_attention_dim": 32}, {}, "unknown"),
        ({"cross_attention_dim": 768}, {"family": "demo"}, "demo"),
    ],
)
def test_detect_family(unet_config, model_index, expected):
    assert detect_family(model_index, unet_config) == expected


def test_studio_json_wins_over_model_index():
    assert detect_family({"family": "sd1"}, {}, {"family": "demo"}) == "demo"
    with pytest.raises(ValueError, match="family"):
        detect_family({"family": "sd9"}, {})


def _assert_names(error: ModelLoadError, path) -> None:
    assert isinstance(error, PipelineError)
    assert error.path == str(path)
    assert str(path) in str(error)
    assert "diffusers-format" in str(error)  # says what to do


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(missing)
    _assert_names(info.value, missing)


def test_file_instead_of_folder(tmp_path):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match="Single-file") as info:
        load_checkpoint(file)
    _assert_names(info.value, file)


def test_corrupt_model_index(model_copy):
    (model_copy / "model_index.json").write_text("{ not json")
    with pytest.raises(ModelLoadError, match="JSON") as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "model_index.json")


def test_corrupt_unet_config(model_copy):
    (model_copy / "unet" / "config.json").write_text("{ broken")
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "unet")


def test_corrupt_weights(model_copy):
    (model_copy / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "vae")


def test_missing_component_folder(model_copy):
    shutil.rmtree(model_copy / "text_encoder")
    with pytest.raises(ModelLoadError, match="missing") as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "text_encoder")


def test_missing_scheduler_config(model_copy):
    (model_copy / "scheduler" / "scheduler_config.json").unlink()
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "scheduler" / "scheduler_config.json")


def test_foreign_library_is_refused(model_copy):
    index = json.loads((model_copy / "model_index.json").read_text())
    index["unet"] = ["evil_package", "Anything"]
    (model_copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="evil_package"):
        load_checkpoint(model_copy)


def test_a_class_the_family_does_not_list_is_refused(model_copy):
    index = json.loads((model_copy / "model_index.json").read_text())
    index["unet"] = ["diffusers", "UNet2DModel"]  # a real class, but not an SD1 denoiser
    (model_copy / "model_index.json").write_text(json.dumps(index))
    (model_copy / "studio.json").write_text(json.dumps({"family": "sd1"}))
    with pytest.raises(ModelLoadError, match="UNet2DConditionModel") as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "model_index.json")


def test_bad_preview_json(model_copy):
    (model_copy / "preview.json").write_text(json.dumps({"latent_rgb_factors": [[1, 2, 3]]}))
    with pytest.raises(ModelLoadError, match="4 x 3") as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "preview.json")


def test_unknown_family_in_studio_json(model_copy):
    (model_copy / "studio.json").write_text(json.dumps({"family": "sd9"}))
    with pytest.raises(ModelLoadError, match="sd9") as info:
        load_checkpoint(model_copy)
    _assert_names(info.value, model_copy / "studio.json")


@pytest.mark.parametrize("studio", ['{"family": 5}', "[1, 2]", "{not json"])
def test_one_rule_reads_studio_json_for_detection_and_loading(model_copy, studio):
    from pipelines.families import folder_family
    from pipelines.loading.detect import detect

    (model_copy / "studio.json").write_text(studio)
    for reader in (folder_family, detect, load_checkpoint):
        with pytest.raises(ModelLoadError) as info:
            reader(model_copy)
        assert info.value.path == str(model_copy / "studio.json")
        assert "\n" not in str(info.value)
