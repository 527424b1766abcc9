"""T2I-Adapter parity: our loop with the adapter applied (Apply ControlNet accepts adapters, as
ComfyUI's) against diffusers' StableDiffusionAdapterPipeline, single and multi (MultiAdapter),
on a tiny SD checkpoint whose first down block has cross-attention."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise

TOL = 1e-5
PROMPT = "a red circle on a blue square"
SIZE = 32
STEPS = 4


def hint_image(seed: int) -> torch.Tensor:
    return torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def adapter_world(tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_sd_for_adapter, build_tiny_t2i_adapter
    from pipelines.text.conditioning import encode_text

    root = tmp_path_factory.mktemp("adapters")
    model_dir = build_tiny_sd_for_adapter(root / "sd")
    folders = [build_tiny_t2i_adapter(root / f"adapter{seed}", seed=seed) for seed in (0, 1)]
    model, clip, _ = load_checkpoint(model_dir)
    prompts = encode_text(clip, PROMPT), encode_text(clip, "")
    return model_dir, folders, model, prompts, [load_controlnet(f) for f in folders]


def _reference(model_dir, adapter, images, scale, scheduler_config, cfg):
    from diffusers import StableDiffusionAdapterPipeline

    pipe = StableDiffusionAdapterPipeline.from_pretrained(
        model_dir, adapter=adapter, local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler("euler", "normal", scheduler_config)
    return pipe(PROMPT, negative_prompt="", image=images, num_inference_steps=STEPS,
         guidance_scale=cfg, height=SIZE, width=SIZE, output_type="latent",
         adapter_conditioning_scale=scale, generator=torch.Generator().manual_seed(5)
                ).images  # output_type="latent": the final latents


def _ours(model, positive, negative, cfg):
    return denoise(model, positive, negative, Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2)),
                   Noise(5), sampler="euler", steps=STEPS, cfg=cfg).samples


@pytest.mark.parametrize(("strength", "cfg"), [(1.0, 7.5), (0.5, 7.5), (0.8, 1.0)])
def test_adapter_matches_pipeline(adapter_world, strength, cfg):
    from diffusers import T2IAdapter

    model_dir, folders, model, prompts, adapters = adapter_world
    hint = hint_image(1)
    reference = _reference(model_dir, T2IAdapter.from_pretrained(folders[0]),
                           hint.permute(0, 3, 1, 2).contiguous(), strength,
                           model.scheduler_config, cfg)
    assert adapters[0].kind == "t2i_adapter"
    ours = _ours(model, *apply_control(*prompts, adapters[0], hint, strength), cfg)
    assert (ours - reference).abs().max().item() <= TOL
    assert (ours - _ours(model, *prompts, cfg)).abs().max().item() > 0.05


def test_two_adapters_match_multi_adapter(adapter_world):
    from diffusers import MultiAdapter, T2IAdapter

    model_dir, folders, model, prompts, adapters = adapter_world
    hints = [hint_image(2), hint_image(3)]
    multi = MultiAdapter([T2IAdapter.from_pretrained(f) for f in folders])
    images = [h.permute(0, 3, 1, 2).contiguous() for h in hints]
    reference = _reference(model_dir, multi, images, [0.7, 1.1], model.scheduler_config, 7.5)
    positive, negative = apply_control(*prompts, adapters[0], hints[0], 0.7)
    positive, negative = apply_control(positive, negative, adapters[1], hints[1], 1.1)
    ours = _ours(model, positive, negative, 7.5)
    assert (ours - reference).abs().max().item() <= TOL


def test_adapter_start_end_limits_the_steps(adapter_world):
    _, _, model, prompts, adapters = adapter_world
    hint = hint_image(4)
    nowhere = _ours(model, *apply_control(*prompts, adapters[0], hint, 1.0, 0.5, 0.5), 7.5)
    assert (nowhere - _ours(model, *prompts, 7.5)).abs().max().item() <= TOL
    late = _ours(model, *apply_control(*prompts, adapters[0], hint, 1.0, 0.5, 1.0), 7.5)
    full = _ours(model, *apply_control(*prompts, adapters[0], hint, 1.0), 7.5)
    assert (late - full).abs().max().item() > 1e-3
