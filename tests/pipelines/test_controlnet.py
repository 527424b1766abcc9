"""ControlNet parity: our Sampler loop with Apply ControlNet against diffusers'
StableDiffusionControlNetPipeline / StableDiffusionXLControlNetPipeline (single and multi,
strength, start/end), same tiny checkpoint, seed and scheduler: max abs diff <= 1e-5 on CPU."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise

TOL = 1e-5
PROMPT = "a red circle on a blue square"
SIZE = 32  # pixels; latents 16 x 16 (tiny VAE scale factor 2)
STEPS = 4


def hint_image(seed: int) -> torch.Tensor:
    return torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def cn_dirs(tiny_dir, tmp_path_factory):
    from pipelines.testing.tiny_control import build_tiny_controlnet

    root = tmp_path_factory.mktemp("controlnets")
    return [build_tiny_controlnet(tiny_dir, root / f"cn{seed}", seed=seed) for seed in (0, 1)]


@pytest.fixture(scope="module")
def nets(cn_dirs):
    from pipelines.loading.controlnet import load_controlnet

    return [load_controlnet(d) for d in cn_dirs]


@pytest.fixture(scope="module")
def cn_pipe(tiny_dir, cn_dirs):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    nets = [ControlNetModel.from_pretrained(d, local_files_only=True) for d in cn_dirs]
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        tiny_dir, controlnet=nets[0], local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe, nets


def run_pipe(pipe, scheduler_config, images, *, cfg=7.5, seed=5, **kwargs):
    captured = {}

    def keep(_pipe, _i, _t, values):
        captured["latents"] = values["latents"]
        return values

    pipe.scheduler = make_scheduler("euler", "normal", scheduler_config)
    pipe(PROMPT, negative_prompt="", image=images, num_inference_steps=STEPS,
         guidance_scale=cfg, height=SIZE, width=SIZE, output_type="latent",
         generator=torch.Generator().manual_seed(seed), callback_on_step_end=keep, **kwargs)
    return captured["latents"]


def run_ours(model, positive, negative, *, cfg=7.5, seed=5, batch=1):
    empty = Latent(torch.zeros(batch, 4, SIZE // 2, SIZE // 2))
    return denoise(model, positive, negative, empty, Noise(seed), sampler="euler",
                   steps=STEPS, cfg=cfg).samples


@pytest.mark.parametrize(("strength", "start", "end", "cfg"), [
    (1.0, 0.0, 1.0, 7.5), (0.6, 0.0, 1.0, 7.5), (1.0, 0.25, 0.75, 7.5), (0.8, 0.5, 1.0, 1.0),
])
def test_single_controlnet_matches_pipeline(tiny, prompts, nets, cn_pipe, strength, start,
                                            end, cfg):
    model = tiny[0]
    pipe, diffusers_nets = cn_pipe
    pipe.controlnet = diffusers_nets[0]
    hint = hint_image(1)
    reference = run_pipe(pipe, model.scheduler_config, hint.permute(0, 3, 1, 2), cfg=cfg,
                         controlnet_conditioning_scale=strength,
                         control_guidance_start=start, control_guidance_end=end)
    positive, negative = apply_control(*prompts, nets[0], hint, strength, start, end)
    ours = run_ours(model, positive, negative, cfg=cfg)
    assert (ours - reference).abs().max().item() <= TOL
    plain = run_ours(model, *prompts, cfg=cfg)
    assert (ours - plain).abs().max().item() > 0.05  # the control really steered


def test_multi_controlnet_matches_pipeline(tiny, prompts, nets, cn_pipe):
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    model = tiny[0]
    pipe, diffusers_nets = cn_pipe
    pipe.controlnet = MultiControlNetModel(diffusers_nets)
    hints = [hint_image(1), hint_image(2)]
    try:
        reference = run_pipe(pipe, model.scheduler_config,
                             [h.permute(0, 3, 1, 2) for h in hints],
                             controlnet_conditioning_scale=[0.7, 1.2],
                             control_guidance_start=[0.0, 0.25], control_guidance_end=[0.75, 1.0])
    finally:
        pipe.controlnet = diffusers_nets[0]
    positive, negative = apply_control(*prompts, nets[0], hints[0], 0.7, 0.0, 0.75)
    positive, negative = apply_control(positive, negative, nets[1], hints[1], 1.2, 0.25, 1.0)
    ours = run_ours(model, positive, negative)
    assert (ours - reference).abs().max().item() <= TOL


def test_batch_of_two_with_one_hint_matches_pipeline(tiny, prompts, nets, cn_pipe):
    model = tiny[0]
    pipe, diffusers_nets = cn_pipe
    pipe.controlnet = diffusers_nets[0]
    hint = hint_image(3)
    reference = run_pipe(pipe, model.scheduler_config, hint.permute(0, 3, 1, 2),
                         num_images_per_prompt=2)
    ours = run_ours(model, *apply_control(*prompts, nets[0], hint), batch=2)
    assert (ours - reference).abs().max().item() <= TOL


def test_mask_of_ones_is_no_mask_and_zeros_is_no_control(tiny, prompts, nets):
    model, hint = tiny[0], hint_image(4)
    full = run_ours(model, *apply_control(*prompts, nets[0], hint))
    ones = run_ours(model, *apply_control(*prompts, nets[0], hint, mask=torch.ones(8, 8)))
    zeros = run_ours(model, *apply_control(*prompts, nets[0], hint, mask=torch.zeros(8, 8)))
    assert torch.equal(full, ones)
    assert (zeros - run_ours(model, *prompts)).abs().max().item() <= TOL


def test_positive_only_hint_steers_the_conditional_half_only(tiny, prompts, nets):
    model, hint = tiny[0], hint_image(5)
    positive, negative = prompts
    only_positive, _ = apply_control(positive, None, nets[0], hint)
    both = run_ours(model, *apply_control(positive, negative, nets[0], hint))
    one = run_ours(model, only_positive, negative)
    plain = run_ours(model, positive, negative)
    assert (one - both).abs().max().item() > 1e-3
    assert (one - plain).abs().max().item() > 1e-3
    # without guidance there is no unconditional half: the two are the same run
    assert torch.equal(run_ours(model, only_positive, negative, cfg=1.0),
                       run_ours(model, *apply_control(positive, negative, nets[0], hint),
                                cfg=1.0))


def test_zero_strength_adds_nothing_and_bad_ranges_are_refused(prompts, nets):
    positive, negative = prompts
    assert apply_control(positive, negative, nets[0], hint_image(0), 0.0) == (positive, negative)
    with pytest.raises(ValueError, match="start"):
        apply_control(positive, negative, nets[0], hint_image(0), 1.0, 0.8, 0.2)


def test_sdxl_controlnet_matches_pipeline(tiny_sdxl, tiny_sdxl_dir, tmp_path):
    from diffusers import ControlNetModel, StableDiffusionXLControlNetPipeline

    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_controlnet
    from pipelines.text.conditioning import encode_text

    model, clip, _ = tiny_sdxl
    folder = build_tiny_controlnet(tiny_sdxl_dir, tmp_path / "cn-xl", seed=3)
    pipe = StableDiffusionXLControlNetPipeline.from_pretrained(
        tiny_sdxl_dir, controlnet=ControlNetModel.from_pretrained(folder, local_files_only=True),
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    hint = hint_image(6)
    reference = run_pipe(pipe, model.scheduler_config, hint.permute(0, 3, 1, 2), cfg=5.0,
                         controlnet_conditioning_scale=0.9, control_guidance_end=0.75)
    positive, negative = encode_text(clip, PROMPT), encode_text(clip, "")
    positive, negative = apply_control(positive, negative, load_controlnet(folder), hint, 0.9,
                                       0.0, 0.75)
    ours = run_ours(model, positive, negative, cfg=5.0)
    assert (ours - reference).abs().max().item() <= TOL
    assert (ours - run_ours(model, *(encode_text(clip, PROMPT), encode_text(clip, "")),
                            cfg=5.0)).abs().max().item() > 0.05
