"""Kandinsky 2.2 (DALL-E 2 style unCLIP) parity: our prior loop, CLIP vision encoding, mixing,
and the decoder sampled by our Sampler through the family's denoiser call and decoded by our
VAE decode, against KandinskyV22PriorPipeline + KandinskyV22Pipeline on the same tiny random
components (loaded by our loader from the saved folders; the pipelines from the same folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.families import folder_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.prior import load_prior
from pipelines.sampling.denoise import denoise
from pipelines.sampling.image_embeds import as_conditioning, encode_image, mix
from pipelines.sampling.prior import run_prior
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_kandinsky import tiny_decoder_path, tiny_prior_path
from pipelines.values import Latent, Noise

TOLERANCE = 1e-5
SEED, SIZE = 7, 64


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kandinsky")
    return tiny_prior_path(root), tiny_decoder_path(root)


@pytest.fixture(scope="module")
def pipes(folders):
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

    prior, decoder = folders
    return (KandinskyV22PriorPipeline.from_pretrained(prior, local_files_only=True),
            KandinskyV22Pipeline.from_pretrained(decoder, local_files_only=True))


@pytest.fixture(scope="module")
def ours(folders):
    prior, decoder = folders
    return load_prior(prior), load_checkpoint(decoder)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@pytest.mark.parametrize("negative", ["", "blurry"])
def test_prior_matches_pipeline(pipes, ours, negative):
    (prior, _), _ = ours
    expected = pipes[0]("a red cube", negative_prompt=negative or None, num_inference_steps=5,
                        guidance_scale=4.0, generator=torch.Generator().manual_seed(SEED))
    embeds, negative_embeds = run_prior(prior, "a red cube", negative, Noise(SEED), steps=5,
                                        cfg=4.0)
    assert _max_diff(embeds.embeds, expected.image_embeds) <= TOLERANCE
    assert _max_diff(negative_embeds.embeds, expected.negative_image_embeds) <= TOLERANCE
    assert embeds.embeds.abs().sum() > 0


def test_prior_and_decoder_match_pipelines(pipes, ours):
    prior_pipe, decoder_pipe = pipes
    (prior, _), (model, _, vae) = ours
    out = prior_pipe("a red cube", num_inference_steps=5, guidance_scale=4.0,
                     generator=torch.Generator().manual_seed(SEED))
    expected = decoder_pipe(image_embeds=out.image_embeds,
                            negative_image_embeds=out.negative_image_embeds, height=SIZE,
                            width=SIZE, num_inference_steps=4, guidance_scale=4.0,
                            generator=torch.Generator().manual_seed(SEED), output_type="np").images

    embeds, negative = run_prior(prior, "a red cube", "", Noise(SEED), steps=5, cfg=4.0)
    factor = model.vae_scale_factor
    start = Latent(torch.zeros(1, model.latent_channels, SIZE // factor, SIZE // factor))
    latent = denoise(model, as_conditioning(embeds), as_conditioning(negative), start,
                     Noise(SEED), sampler="ddim", steps=4, cfg=4.0)
    image = decode(vae, latent)
    diff = float(np.abs(image.numpy() - expected).max())
    print(f"Kandinsky 2.2 prior + decoder max abs diff: {diff:.3g}")
    assert diff <= TOLERANCE
    assert image.std() > 0


def test_image_embedding_and_interpolate_match_pipeline(pipes, ours):
    from pipelines.image import to_pil

    (prior, vision), _ = ours
    image = torch.rand(1, 48, 40, 3, generator=torch.Generator().manual_seed(1))
    pil = to_pil(image)[0]
    expected = pipes[0].interpolate(["a red cube", pil], [0.3, 0.7], num_inference_steps=5,
                                    generator=torch.Generator().manual_seed(SEED))
    text, _ = run_prior(prior, "a red cube", "", Noise(SEED), steps=5, cfg=4.0)
    assert not text.embeds.is_inference()  # ordinary, though the prior ran in inference mode
    mixed = mix([text, encode_image(vision, image)], [0.3, 0.7])
    assert _max_diff(mixed.embeds, expected.image_embeds) <= TOLERANCE
    # interpolate's negative: the prior run on "" (negative_prompt), its negative embedding
    _, zero = run_prior(prior, "", "", Noise(SEED), steps=5, cfg=4.0)
    assert _max_diff(zero.embeds, expected.negative_image_embeds) <= TOLERANCE


def test_folders_are_detected(folders):
    from pipelines.loading.detect import detect

    prior, decoder = folders
    assert folder_family(prior) == "kandinsky22_prior"
    assert folder_family(decoder) == "kandinsky22"
    assert detect(prior).describe() == "diffusers kandinsky22_prior (a prior: load it with Load Prior)"
    assert detect(decoder).describe() == "diffusers kandinsky22"


def test_prior_folder_is_not_a_checkpoint_and_back(folders):
    prior, decoder = folders
    with pytest.raises(ModelLoadError, match="prior"):
        load_checkpoint(prior)
    with pytest.raises(ModelLoadError, match="not a prior"):
        load_prior(decoder)


def test_decoder_needs_image_embeddings(ours):
    from pipelines.values import Conditioning

    _, (model, _, _) = ours
    text = Conditioning(embeds=torch.zeros(1, 77, 32))
    start = Latent(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="image embedding"):
        denoise(model, text, text, start, Noise(0), sampler="ddim", steps=1, cfg=4.0)
