"""Differential Diffusion (ComfyUI's DifferentialDiffusion): a soft noise mask becomes one
thresholded mask per step, so weakly masked areas join the model late; a hard mask (0/1) gives
exactly the plain inpainting run, and the unmasked area stays the original."""

from __future__ import annotations

import dataclasses

import torch

from pipelines.sampling.denoise import denoise
from pipelines.sampling.masking import differential_masks
from pipelines.values import Latent, Noise


def test_each_step_thresholds_the_mask_at_its_timestep() -> None:
    mask = torch.tensor([0.0, 0.3, 0.5, 0.8, 1.0]).reshape(1, 1, 1, 5)
    masks = differential_masks(mask, torch.tensor([1000, 750, 500, 250]), 1.0)
    assert [m.flatten().tolist() for m in masks] == [
        [0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]]
    half = differential_masks(mask, torch.tensor([1000, 500]), 0.5)
    assert torch.allclose(half[1], 0.5 * (mask >= 0.5).float() + 0.5 * mask)


def _run(model, prompts, mask: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    latent = Latent(samples=original, noise_mask=mask)
    return denoise(model, *prompts, latent, Noise(5), steps=6, cfg=5.0, denoise=1.0).samples


def test_a_hard_mask_equals_plain_inpainting_and_a_soft_one_differs(tiny, prompts) -> None:
    model, _, _ = tiny
    differential = dataclasses.replace(model, differential_diffusion=1.0)
    original = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    hard = torch.zeros(1, 1, 8, 8)
    hard[..., :, 4:] = 1.0
    assert torch.equal(_run(model, prompts, hard, original),
                       _run(differential, prompts, hard, original))

    soft = hard.clone()
    soft[..., :, 2:4] = 0.4  # a weak band next to the edit
    plain, ours = _run(model, prompts, soft, original), _run(differential, prompts, soft, original)
    assert torch.equal(ours[..., :2], original[..., :2])  # mask 0: the original
    assert torch.equal(plain[..., :2], original[..., :2])
    assert (ours[..., 2:4] - plain[..., 2:4]).abs().max() > 1e-3  # the band joins late
