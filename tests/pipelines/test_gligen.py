"""GLIGEN: boxes on a conditioning sample like diffusers' StableDiffusionGLIGENPipeline on a
tiny GLIGEN model (scheduled sampling included), and a GLIGEN file as ComfyUI's GLIGENLoader
reads it gives a plain UNet the same layers for the run only."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.sampling.denoise import denoise
from pipelines.sampling.gligen import add_box, phrase_embedding
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise

PROMPT, PHRASES = "a cat and a dog", ["a cat", "a dog"]
BOXES = [(8, 16, 32, 24), (40, 0, 24, 64)]  # x, y, width, height in pixels of a 64 px image


@pytest.fixture(scope="module")
def gligen_dir(tmp_path_factory):
    from pipelines.testing.tiny_gligen import build_tiny_gligen

    return build_tiny_gligen(tmp_path_factory.mktemp("gligen") / "tiny-gligen")


@pytest.fixture(scope="module")
def loaded(gligen_dir):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.text.conditioning import encode_text

    model, clip, _vae = load_checkpoint(gligen_dir)
    return model, clip, encode_text(clip, PROMPT), encode_text(clip, "")


@pytest.fixture(scope="module")
def pipe(gligen_dir):
    from diffusers import StableDiffusionGLIGENPipeline

    pipe = StableDiffusionGLIGENPipeline.from_pretrained(gligen_dir, local_files_only=True,
                                                         safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _theirs(pipe, model, sampler: str, beta: float) -> torch.Tensor:
    pipe.scheduler = make_scheduler(sampler, "normal", model.scheduler_config)
    boxes = [[x / 64, y / 64, (x + w) / 64, (y + h) / 64] for x, y, w, h in BOXES]
    return pipe(PROMPT, negative_prompt="", height=64, width=64, num_inference_steps=4,
                guidance_scale=7.5, gligen_phrases=PHRASES, gligen_boxes=boxes,
                gligen_scheduled_sampling_beta=beta, generator=torch.Generator().manual_seed(5),
                output_type="latent").images


def _grounded(positive, phrases, beta: float, weights=None):
    for phrase, box in zip(phrases, BOXES, strict=True):
        positive = add_box(positive, phrase, box, beta, weights)
    return positive


def _ours(model, positive, negative, sampler: str) -> torch.Tensor:
    latent = Latent(samples=torch.zeros(1, 4, 32, 32))
    return denoise(model, positive, negative, latent, Noise(5), sampler=sampler, steps=4,
                   cfg=7.5).samples


@pytest.mark.parametrize(("sampler", "beta"), [("ddim", 0.5), ("euler", 1.0), ("euler", 0.3)])
def test_matches_the_diffusers_gligen_pipeline(loaded, pipe, sampler, beta):
    model, clip, positive, negative = loaded
    tokens = pipe.tokenizer(PHRASES, padding=True, return_tensors="pt")
    with torch.no_grad():  # the pipeline embeds its phrases as one batch
        batched = pipe.text_encoder(**tokens).pooler_output
    theirs = _theirs(pipe, model, sampler, beta)
    ours = _ours(model, _grounded(positive, list(batched), beta), negative, sampler)
    assert (ours - theirs).abs().max().item() == 0.0
    # phrases embedded one by one (as GLIGEN Textbox Apply does) round differently only
    alone = [phrase_embedding(clip, text) for text in PHRASES]
    assert not any(phrase.is_inference() for phrase in alone)  # ordinary, though inferred
    assert (torch.stack(alone) - batched).abs().max().item() <= 1e-6
    ours = _ours(model, _grounded(positive, alone, beta), negative, sampler)
    assert (ours - theirs).abs().max().item() <= 1e-5 * theirs.abs().max().item()
    plain = _ours(model, positive, negative, sampler)
    assert (plain - theirs).abs().max().item() > 1e-2  # the boxes do steer


def test_a_gligen_file_gives_a_plain_unet_the_layers_for_the_run(loaded, gligen_dir, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.gligen import load_gligen
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.testing.tiny_gligen import save_comfy_gligen_file

    model, clip, positive, negative = loaded
    phrases = [phrase_embedding(clip, text) for text in PHRASES]
    expected = _ours(model, _grounded(positive, phrases, 0.5), negative, "euler")
    # named as in ComfyUI's gligen_sd14_textbox_pruned file
    weights = load_gligen(save_comfy_gligen_file(gligen_dir, tmp_path / "gligen.safetensors"))
    plain_model, _clip, _vae = load_checkpoint(build_tiny_sd(tmp_path / "plain"))
    unet = plain_model.denoiser
    assert not hasattr(unet, "position_net") or unet.position_net is None
    ours = _ours(plain_model, _grounded(positive, phrases, 0.5, weights), negative, "euler")
    assert (ours - expected).abs().max().item() == 0.0
    assert getattr(unet, "position_net", None) is None  # taken away after the run
    assert not any(hasattr(m, "fuser") for m in unet.modules())
    with pytest.raises(ValueError, match="GLIGEN model"):
        _ours(plain_model, _grounded(positive, phrases, 0.5), negative, "euler")


def test_not_a_gligen_file(tmp_path):
    from pipelines.errors import ModelLoadError
    from pipelines.loading.gligen import load_gligen

    save_file({"input_blocks.1.1.proj_in.weight": torch.zeros(2, 2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ModelLoadError, match="no GLIGEN layers"):
        load_gligen(tmp_path / "x.safetensors")


def test_boxes_on_an_area_conditioning_are_refused(loaded):
    from dataclasses import replace

    model, clip, positive, negative = loaded
    grounded = replace(_grounded(positive, [phrase_embedding(clip, "a cat")] * 2, 1.0),
                       area=("percentage", 0.5, 0.5, 0.0, 0.0))
    with pytest.raises(ValueError, match="plain conditioning"):
        _ours(model, grounded, negative, "euler")
