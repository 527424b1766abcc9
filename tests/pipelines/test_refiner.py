"""The SDXL refiner samples like diffusers' SDXL img2img pipeline (aesthetic-score time ids)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    from pipelines.testing.tiny_families import build_family

    return build_family("sdxl-refiner", tmp_path_factory.mktemp("refiner"))


@pytest.mark.parametrize("cfg", [5.0, 1.0])
def test_refiner_img2img_matches_sdxl_img2img_pipeline(refiner, cfg):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = load_checkpoint(refiner.folder)
    assert model.family == "sdxl_refiner"
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    ours = denoise(model, encode_text(clip, "a red circle"), encode_text(clip, ""),
                   Latent(samples=latent), Noise(seed=11), sampler="euler", steps=4, cfg=cfg,
                   denoise=0.5).samples

    pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(refiner.folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = EulerDiscreteScheduler.from_config(model.scheduler_config)
    theirs = pipe("a red circle", negative_prompt="", image=latent, strength=0.5,
                  num_inference_steps=4, guidance_scale=cfg, output_type="latent",
                  generator=torch.Generator("cpu").manual_seed(11)).images
    assert (ours - theirs).abs().max().item() <= 1e-5
