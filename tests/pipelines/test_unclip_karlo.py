"""Karlo (UnCLIPPipeline) parity: our prior, decoder and super-resolution stages, loaded by our
loader from a saved UnCLIPPipeline folder (which diffusers itself cannot reload), sharing one
generator as the pipeline does, against UnCLIPPipeline built from the same components."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.families import folder_family
from pipelines.loading.unclip import load_unclip
from pipelines.sampling.prior import run_prior
from pipelines.sampling.unclip import decode_embedding, super_resolve
from pipelines.testing.tiny_karlo import tiny_karlo_path

TOLERANCE = 1e-5
SEED = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tiny_karlo_path(tmp_path_factory.mktemp("karlo"))


@pytest.fixture(scope="module")
def ours(folder):
    return load_unclip(folder)


def _pipeline(prior, cascade):
    """UnCLIPPipeline assembled from the very modules our loader loaded."""
    from diffusers import UnCLIPPipeline, UnCLIPScheduler

    return UnCLIPPipeline(
        prior=prior.prior, decoder=cascade.decoder, text_proj=cascade.text_proj,
        text_encoder=cascade.text_encoder, tokenizer=cascade.tokenizer,
        super_res_first=cascade.super_res_first, super_res_last=cascade.super_res_last,
        prior_scheduler=UnCLIPScheduler.from_config(prior.scheduler_config),
        decoder_scheduler=UnCLIPScheduler.from_config(cascade.decoder_scheduler_config),
        super_res_scheduler=UnCLIPScheduler.from_config(cascade.super_res_scheduler_config),
    )


def test_saved_pipeline_does_not_reload_in_diffusers_but_loads_here(folder, ours):
    from diffusers import UnCLIPPipeline

    with pytest.raises(ValueError, match="UnCLIPTextProjModel"):
        UnCLIPPipeline.from_pretrained(folder, local_files_only=True)
    prior, cascade = ours
    assert type(cascade.text_proj).__name__ == "UnCLIPTextProjModel"
    assert folder_family(folder) == "karlo"


@pytest.mark.parametrize("decoder_cfg", [8.0, 1.0])
def test_cascade_matches_unclip_pipeline(ours, decoder_cfg):
    prior, cascade = ours
    expected = _pipeline(prior, cascade)(
        "a red cube", prior_num_inference_steps=4, decoder_num_inference_steps=3,
        super_res_num_inference_steps=3, prior_guidance_scale=4.0,
        decoder_guidance_scale=decoder_cfg,
        generator=torch.Generator().manual_seed(SEED), output_type="pt").images

    generator = torch.Generator().manual_seed(SEED)  # one generator through the stages
    embedding, _ = run_prior(prior, "a red cube", steps=4, cfg=4.0, generator=generator)
    small = decode_embedding(cascade, embedding, "a red cube", steps=3, cfg=decoder_cfg,
                             generator=generator)
    # through the IMAGE port's 0..1 range and back, as the nodes pass it
    small = ((small * 0.5 + 0.5).clamp(0, 1)) * 2 - 1
    large = super_resolve(cascade, small, steps=3, generator=generator)
    image = (large * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    diff = float((image - torch.as_tensor(expected).float()).abs().max())
    print(f"Karlo prior + decoder (cfg {decoder_cfg}) + super-res max abs diff: {diff:.3g}")
    assert diff <= TOLERANCE
    assert image.shape == (1, 64, 64, 3) and image.std() > 0


def test_super_resolution_switches_to_its_last_unet_at_the_last_step(ours):
    import dataclasses

    _, cascade = ours
    small = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    same_last = dataclasses.replace(cascade, super_res_last=cascade.super_res_first)
    seen = []
    large = super_resolve(cascade, small, steps=3, callback=lambda i, n: seen.append((i, n)))
    other = super_resolve(same_last, small, steps=3)
    assert seen == [(0, 3), (1, 3), (2, 3)]
    assert (large - other).abs().max() > 1e-4  # the last step ran super_res_last


def test_a_kandinsky_folder_is_not_unclip(tmp_path):
    from pipelines.testing.tiny_kandinsky import build_tiny_decoder

    with pytest.raises(ModelLoadError, match="not an unCLIP"):
        load_unclip(build_tiny_decoder(tmp_path / "k"))
