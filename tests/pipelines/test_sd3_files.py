"""SD3 files in the original layouts (all-in-one checkpoint, transformer alone, clip_l /
clip_g / t5xxl text encoder files) are detected from their headers and load to exactly the
networks of the diffusers folder they were written from."""

from __future__ import annotations

import shutil

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.families import get_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.detect import detect
from pipelines.sampling.denoise import denoise
from pipelines.testing.tiny_sd3 import build_tiny_sd3
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise


@pytest.fixture(scope="module", params=["sd35", "sd3"])
def tiny(request, tmp_path_factory):
    return build_tiny_sd3(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="module")
def folder_model(tiny):
    return load_checkpoint(tiny.folder)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for key, value in sa.items():
        assert torch.equal(value, sb[key]), key


def _sample(model, clip) -> torch.Tensor:
    pos, neg = encode_text(clip, "a red cat"), encode_text(clip, "")
    return denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(1),
                   steps=2, cfg=4.0).samples


def test_each_file_kind_is_detected_from_its_header(tiny):
    assert detect(tiny.file).describe() == "checkpoint sd3"
    assert detect(tiny.transformer).describe() == "unet sd3"


def test_all_in_one_file_equals_its_folder(tiny, folder_model):
    model, clip, vae = load_checkpoint(tiny.file)
    ref_model, ref_clip, ref_vae = folder_model
    assert model.family == clip.family == "sd3" and model.latent_channels == 16
    def sizes(config):  # every size but the default image size, which files do not record
        return {k: v for k, v in config.items() if not k.startswith("_") and k != "sample_size"}

    assert sizes(model.denoiser.config) == sizes(ref_model.denoiser.config)
    _same_weights(model.denoiser, ref_model.denoiser)
    _same_weights(vae.vae, ref_vae.vae)
    for (_, ours), (_, ref) in zip(clip.present(), ref_clip.present(), strict=True):
        _same_weights(ours, ref)
    assert (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)
    assert model.scheduler_config["shift"] == ref_model.scheduler_config["shift"] == 3.0
    assert torch.equal(_sample(model, clip), _sample(ref_model, ref_clip))


def test_part_files_equal_the_folder(tiny, folder_model):
    family = get_family("sd3")
    model = family.load_denoiser_file(tiny.transformer, "default")
    clip = family.load_text_encoder_files([tiny.t5xxl, tiny.clip_g, tiny.clip_l])  # any order
    ref_model, ref_clip, _ = folder_model
    _same_weights(model.denoiser, ref_model.denoiser)
    assert [type(te).__name__ for _, te in clip.present()] == [
        "CLIPTextModelWithProjection", "CLIPTextModelWithProjection", "T5EncoderModel"]
    for (_, ours), (_, ref) in zip(clip.present(), ref_clip.present(), strict=True):
        _same_weights(ours, ref)
    assert torch.equal(_sample(model, clip), _sample(ref_model, ref_clip))
    half = family.load_denoiser_file(tiny.transformer, "bfloat16")
    assert next(half.denoiser.parameters()).dtype == torch.bfloat16


def test_missing_t5_tokenizer_and_missing_clip_are_clear_errors(tiny, tmp_path):
    lone = tmp_path / "t5xxl.safetensors"
    shutil.copy(tiny.t5xxl, lone)
    clip_l, clip_g = tmp_path / "clip_l.safetensors", tmp_path / "clip_g.safetensors"
    shutil.copy(tiny.clip_l, clip_l)
    shutil.copy(tiny.clip_g, clip_g)
    family = get_family("sd3")
    with pytest.raises(ModelLoadError, match="t5_tokenizer"):
        family.load_text_encoder_files([clip_l, clip_g, lone])
    with pytest.raises(ModelLoadError, match="both CLIP text encoders"):
        family.load_text_encoder_files([clip_l])
    without_t5 = family.load_text_encoder_files([clip_l, clip_g])  # T5 states: zeros
    assert without_t5.text_encoder_3 is None
    with pytest.raises(ModelLoadError, match="SD3 transformer"):
        family.load_denoiser_file(clip_l, "default")
