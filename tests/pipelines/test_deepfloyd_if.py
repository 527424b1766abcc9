"""DeepFloyd IF (Imagen's open realization) through our loader, T5 encoding, pixel-space
sampler and super-resolution stage equals diffusers' IFPipeline / IFSuperResolutionPipeline
on tiny random components saved with ``save_pretrained`` (same seed, CPU)."""

from __future__ import annotations

import logging

import pytest
import torch

from pipelines.families import ROLES, folder_family, get_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import denoise
from pipelines.sampling.superres import image_to_pixels, pixels_to_image, super_resolve
from pipelines.testing.tiny_if import build_tiny_if
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "  A Red cat on the MAT "


@pytest.fixture(scope="module")
def if_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("if-models")
    return build_tiny_if(root / "IF-I", stage=1), build_tiny_if(root / "IF-II", stage=2)


@pytest.fixture(scope="module")
def stage1(if_folders):
    return load_checkpoint(if_folders[0])


@pytest.fixture(scope="module")
def stage2(if_folders):
    return load_checkpoint(if_folders[1])


def _pipe(cls, folder):
    pipe = cls.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_if_folders_are_detected_and_loaded_without_a_vae(if_folders, stage1, stage2):
    assert [folder_family(f) for f in if_folders] == ["deepfloyd_if", "deepfloyd_if_sr"]
    model, clip, vae = stage1
    assert vae is None and model.family == "deepfloyd_if" and clip.family == "deepfloyd_if"
    assert (model.latent_channels, model.vae_scale_factor) == (3, 1)
    assert get_family(model.family).latent.pixels
    assert type(clip.text_encoder).__name__ == "T5EncoderModel"
    sr_model, sr_clip, sr_vae = stage2
    assert sr_vae is None and "image_noising_scheduler" in sr_model.schedulers
    # stage II's copy of T5 is never loaded (stage I's states feed it), nor counted
    assert sr_clip.text_encoder is None and (if_folders[1] / "text_encoder").is_dir()
    from pipelines.memory.placement import estimate_bytes

    dtypes = dict.fromkeys(ROLES, torch.float32)
    unet_bytes = sum(p.numel() * 4 for p in sr_model.denoiser.parameters())
    assert estimate_bytes(if_folders[1], dtypes) == unet_bytes
    with pytest.raises(ValueError, match="text encoder of its first stage"):
        encode_text(sr_clip, "a cat")


def test_t5_encoding_equals_if_encode_prompt(if_folders, stage1):
    from diffusers import IFPipeline

    _, clip, _ = stage1
    pipe = _pipe(IFPipeline, if_folders[0])
    ref_pos, ref_neg = pipe.encode_prompt(PROMPT, negative_prompt="a blue dog",
                                          clean_caption=False)
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "a blue dog")
    assert pos.embeds.shape == (1, 77, 32)
    assert torch.equal(pos.embeds, ref_pos) and torch.equal(neg.embeds, ref_neg)


def test_t5_weights_scale_the_weighted_tokens_and_long_prompts_truncate(stage1, caplog):
    _, clip, _ = stage1
    plain = encode_text(clip, "a red cat").embeds
    same = encode_text(clip, "a (red:1.0) cat").embeds
    weighted = encode_text(clip, "a (red:1.5) cat").embeds
    assert torch.allclose(same, plain, atol=1e-6)
    changed = (weighted - plain).abs().amax(dim=-1)[0]
    assert changed[0] == 0 and changed[1] > 0  # "a" untouched, "red" scaled
    assert torch.allclose(weighted[0, 1], plain[0, 1] * 1.5, atol=1e-6)
    with caplog.at_level(logging.WARNING):
        long = encode_text(clip, " ".join(["red cat"] * 60))
    assert long.embeds.shape == (1, 77, 32) and "truncated" in caplog.text


def test_stage_one_equals_if_pipeline(if_folders, stage1):
    from diffusers import IFPipeline

    model, clip, _ = stage1
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "")
    ours = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 3, 16, 16)), Noise(3),
                   sampler="ddpm", steps=3, cfg=7.0)
    ref = _pipe(IFPipeline, if_folders[0])(
        PROMPT, num_inference_steps=3, guidance_scale=7.0, height=16, width=16,
        generator=torch.Generator().manual_seed(3), output_type="pt", clean_caption=False,
    ).images
    diff = (ours.samples - ref).abs().max().item()
    print(f"IF stage I max abs diff: {diff}")
    assert diff <= 1e-5
    assert ours.space == "deepfloyd_if" and ours.samples.std() > 0.05


def test_stage_two_equals_if_super_resolution_pipeline(if_folders, stage1, stage2):
    from diffusers import IFSuperResolutionPipeline

    _, clip, _ = stage1  # stage II reuses stage I's T5 states, as the IF cascade does
    model, _, _ = stage2
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "")
    low = torch.rand(1, 12, 12, 3, generator=torch.Generator().manual_seed(1))
    ours = super_resolve(model, pos, neg, low, Noise(5), scale=2.0, noise_level=250, steps=3,
                         cfg=4.0)
    ref = _pipe(IFSuperResolutionPipeline, if_folders[1])(
        PROMPT, image=image_to_pixels(low), height=24, width=24, num_inference_steps=3,
        guidance_scale=4.0, noise_level=250, generator=torch.Generator().manual_seed(5),
        output_type="pt", clean_caption=False,
    ).images
    assert ours.samples.shape == (1, 3, 24, 24)
    diff = (ours.samples - ref).abs().max().item()
    print(f"IF stage II max abs diff: {diff}")
    assert diff <= 1e-5
    # the low-resolution image matters: another one gives another result
    other = super_resolve(model, pos, neg, 1 - low, Noise(5), scale=2.0, steps=3, cfg=4.0)
    assert (other.samples - ours.samples).abs().max() > 1e-3


def test_pixels_round_trip_and_bad_super_resolution_inputs(stage1, stage2):
    samples = torch.linspace(-1, 1, 48).reshape(1, 3, 4, 4)
    image = pixels_to_image(Latent(samples=samples))
    assert image.shape == (1, 4, 4, 3)
    assert torch.allclose(image_to_pixels(image), samples, atol=1e-6)
    model1, clip, _ = stage1
    pos = encode_text(clip, "a cat")
    with pytest.raises(ValueError, match="not a super-resolution stage"):
        super_resolve(model1, pos, pos, image, Noise(0), steps=1)
    with pytest.raises(ValueError, match="noise level"):
        super_resolve(stage2[0], pos, pos, image, Noise(0), steps=1, noise_level=1000)


def test_detect_names_if_folders_for_main_py_models(if_folders, tmp_path, monkeypatch, capsys):
    import shutil

    from app.cli.main import main
    from pipelines.loading.detect import detect

    assert detect(if_folders[0]).describe() == "diffusers deepfloyd_if"
    assert detect(if_folders[1]).describe() == "diffusers deepfloyd_if_sr"
    models = tmp_path / "models"
    shutil.copytree(if_folders[0], models / "checkpoints" / "IF-I-XL-v1.0")
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "IF-I-XL-v1.0" in x)
    assert line.split()[-2:] == ["diffusers", "deepfloyd_if"]


def test_a_super_resolution_stage_in_the_plain_sampler_is_a_clear_error(stage1, stage2):
    _, clip, _ = stage1
    pos = encode_text(clip, "a cat")
    with pytest.raises(ValueError, match="Super-Resolution Sampler"):
        denoise(stage2[0], pos, pos, Latent(samples=torch.zeros(1, 3, 8, 8)), Noise(0), steps=1)
