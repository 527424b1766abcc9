"""Combined and regional conditionings on SDXL (pooled + time ids; the refiner's negative
aesthetic score on the uncond side), SD3 and Flux (pooled,
packed tokens): a conditioning combined with itself samples as it alone, an area acts, and
the denoiser sees each entry's own crop."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling import conditioning_ops as ops
from pipelines.sampling.denoise import denoise
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise


@pytest.fixture(scope="module", params=["sdxl", "sdxl-refiner", "sd3", "flux"])
def family_model(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"regions-{request.param}")
    if request.param == "sdxl":
        from pipelines.testing.tiny import build_tiny_sdxl

        folder = build_tiny_sdxl(root / "sdxl")
    elif request.param == "sdxl-refiner":  # its uncond half has its own aesthetic score
        from pipelines.testing.tiny_families import build_family

        folder = build_family("sdxl-refiner", root / "refiner").folder
    elif request.param == "sd3":
        from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

        folder = build_tiny_sd3_folder(root / "sd3")
    else:
        from pipelines.testing.tiny_flux import build_tiny_flux

        folder = build_tiny_flux(root / "flux", "dev")
    model, clip, _ = load_checkpoint(folder)
    return model, encode_text(clip, "a red circle"), encode_text(clip, "a blue square")


def _run(model, positive, negative=None, cfg=1.0):
    latent = Latent(samples=torch.zeros(1, model.latent_channels, 8, 8))
    return denoise(model, positive, negative, latent, Noise(2), steps=2, cfg=cfg).samples


class Shapes:
    """Records the spatial size of every denoiser input (packed families: token count)."""

    def __init__(self, denoiser):
        self.denoiser, self.seen = denoiser, []
        self.config, self.dtype = denoiser.config, denoiser.dtype

    def __getattr__(self, name):
        return getattr(self.denoiser, name)

    def __call__(self, *args, **kwargs):
        sample = args[0] if args else kwargs["hidden_states"]
        self.seen.append(tuple(sample.shape[1:]))
        return self.denoiser(*args, **kwargs)


def test_combine_with_itself_and_a_whole_area_change_nothing(family_model):
    model, red, blue = family_model
    plain = _run(model, red)
    assert torch.allclose(_run(model, ops.combine(red, red)), plain, atol=1e-6)
    whole = ops.set_area_percentage(red, 1.0, 1.0, 0.0, 0.0, 1.0)
    assert torch.allclose(_run(model, whole), plain, atol=1e-6)
    guided = _run(model, ops.combine(red, red), blue, cfg=4.0)
    assert torch.allclose(guided, _run(model, red, blue, cfg=4.0), rtol=1e-4, atol=1e-4)


def test_an_area_runs_the_denoiser_on_its_crop(family_model):
    model, red, blue = family_model
    recording = Shapes(model.denoiser)
    wrapped = dataclasses.replace(model, denoiser=recording)
    half = ops.combine(red, ops.set_area_percentage(blue, 0.5, 1.0, 0.5, 0.0, 1.0))
    out = _run(wrapped, half, red, cfg=3.0)
    assert torch.isfinite(out).all()
    full, crop = recording.seen[0], recording.seen[1]
    assert full != crop  # the area's call saw a smaller input (8x4 cells or its tokens)
    assert not torch.allclose(out, _run(model, red, red, cfg=3.0), atol=1e-3)
