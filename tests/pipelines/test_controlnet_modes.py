"""ControlNet guess mode (soft weights) against StableDiffusionControlNetPipeline(guess_mode=
True), "diff" ControlNets (weights relative to the UNet) equal to the full net, and
ControlNet-Union against StableDiffusionXLControlNetUnionPipeline: max abs diff <= 1e-5."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.errors import ModelLoadError
from pipelines.sampling.control import apply_control
from tests.pipelines import test_controlnet as base
from tests.pipelines.test_controlnet import TOL, hint_image, run_ours, run_pipe

cn_dirs, nets, cn_pipe = base.cn_dirs, base.nets, base.cn_pipe  # the parity tests' fixtures


@pytest.mark.parametrize("cfg", [7.5, 1.0])
def test_guess_mode_matches_pipeline(tiny, prompts, nets, cn_pipe, cfg):
    model = tiny[0]
    pipe, diffusers_nets = cn_pipe
    pipe.controlnet = diffusers_nets[0]
    hint = hint_image(7)
    reference = run_pipe(pipe, model.scheduler_config, hint.permute(0, 3, 1, 2), cfg=cfg,
                         guess_mode=True, controlnet_conditioning_scale=0.8)
    ours = run_ours(model, *apply_control(*prompts, nets[0], hint, 0.8, guess_mode=True),
                    cfg=cfg)
    assert (ours - reference).abs().max().item() <= TOL
    plain = run_ours(model, *apply_control(*prompts, nets[0], hint, 0.8), cfg=cfg)
    assert (ours - plain).abs().max().item() > 1e-3  # the soft weights really differ


def test_guess_mode_leaves_the_negative_alone(prompts, nets):
    positive, negative = apply_control(*prompts, nets[0], hint_image(0), guess_mode=True)
    assert len(positive.control) == 1 and negative.control == ()


def _diff_file(net_dir, unet, path):
    """The ControlNet of ``net_dir`` as a diff file: UNet-shared weights minus the UNet's."""
    from diffusers import ControlNetModel

    from pipelines.testing.tiny_control import original_layout

    state = ControlNetModel.from_pretrained(net_dir, local_files_only=True).state_dict()
    base = unet.state_dict()
    diff = {k: (v - base[k]) if k in base else v for k, v in state.items()}
    out = original_layout(diff)
    out["difference"] = torch.zeros(1)
    save_file({k: v.contiguous() for k, v in out.items()}, str(path))
    return path


def test_diff_controlnet_equals_the_full_net(tiny, cn_dirs, tmp_path):
    from pipelines.loading.controlnet import load_controlnet

    model = tiny[0]
    path = _diff_file(cn_dirs[0], model.denoiser, tmp_path / "control_canny_diff.safetensors")
    full = load_controlnet(cn_dirs[0]).network.state_dict()
    loaded = load_controlnet(path, base=model.denoiser).network.state_dict()
    assert loaded.keys() == full.keys()
    assert max((loaded[k] - full[k]).abs().max().item() for k in full) <= 1e-6
    with pytest.raises(ModelLoadError, match="Load Diff ControlNet"):
        load_controlnet(path)


def test_diff_controlnet_on_another_model_is_refused(tiny_sdxl, cn_dirs, tiny, tmp_path):
    from pipelines.loading.controlnet import load_controlnet

    path = _diff_file(cn_dirs[0], tiny[0].denoiser, tmp_path / "diff.safetensors")
    with pytest.raises(ModelLoadError, match="does not fit the model"):
        load_controlnet(path, base=tiny_sdxl[0].denoiser)


@pytest.fixture(scope="module")
def union_dir(tiny_sdxl_dir, tmp_path_factory):
    from pipelines.testing.tiny_control import build_tiny_controlnet_union

    return build_tiny_controlnet_union(tiny_sdxl_dir, tmp_path_factory.mktemp("union") / "u")


# diffusers' union pipeline cannot run guess mode with CFG (its control type keeps both halves
# while the net sees the conditional half alone), so guess mode is compared without CFG
@pytest.mark.parametrize(("mode", "strength", "end", "guess", "cfg"), [
    (3, 1.0, 1.0, False, 5.0), (1, 0.7, 0.75, False, 5.0), (6, 0.9, 1.0, True, 1.0)])
def test_union_matches_pipeline(tiny_sdxl, tiny_sdxl_dir, union_dir, mode, strength, end, guess,
                                cfg):
    import dataclasses

    from diffusers import ControlNetUnionModel, StableDiffusionXLControlNetUnionPipeline

    from pipelines.loading.controlnet import load_controlnet
    from pipelines.text.conditioning import encode_text
    from tests.pipelines.test_controlnet import PROMPT

    model, clip, _ = tiny_sdxl
    pipe = StableDiffusionXLControlNetUnionPipeline.from_pretrained(
        tiny_sdxl_dir, controlnet=ControlNetUnionModel.from_pretrained(
            union_dir, local_files_only=True), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    hint = hint_image(8)
    captured = {}

    def keep(_pipe, _i, _t, values):
        captured["latents"] = values["latents"]
        return values

    from pipelines.sampling.samplers import make_scheduler

    pipe.scheduler = make_scheduler("euler", "normal", model.scheduler_config)
    pipe(PROMPT, negative_prompt="", control_image=[hint.permute(0, 3, 1, 2)],
         control_mode=[mode], num_inference_steps=4, guidance_scale=cfg, height=32, width=32,
         controlnet_conditioning_scale=strength, control_guidance_end=end, guess_mode=guess,
         output_type="latent", generator=torch.Generator().manual_seed(5),
         callback_on_step_end=keep)
    union = load_controlnet(union_dir)
    assert union.kind == "controlnet_union"
    positive, negative = encode_text(clip, PROMPT), encode_text(clip, "")
    typed = dataclasses.replace(union, union_type=mode)
    ours = run_ours(model, *apply_control(positive, negative, typed, hint, strength, 0.0, end,
                                          guess_mode=guess), cfg=cfg)
    assert (ours - captured["latents"]).abs().max().item() <= TOL


def test_union_single_file_equals_its_folder(union_dir, tmp_path):
    from pipelines.loading.controlnet import load_controlnet

    folder = load_controlnet(union_dir).network
    path = tmp_path / "controlnet-union-sdxl.safetensors"
    save_file({k: v.contiguous() for k, v in folder.state_dict().items()}, str(path))
    single = load_controlnet(path)
    assert single.kind == "controlnet_union"
    assert single.network.config.num_control_type == folder.config.num_control_type
    state = single.network.state_dict()
    assert all(torch.equal(state[k], v) for k, v in folder.state_dict().items())
