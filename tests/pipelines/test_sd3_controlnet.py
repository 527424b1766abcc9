"""SD3 ControlNets (``SD3ControlNetModel``) through Load ControlNet + Apply ControlNet + our
denoise loop equal diffusers' StableDiffusion3ControlNetPipeline on tiny random components
saved with ``save_pretrained`` (same seed, CPU, max abs diff <= 1e-5): InstantX-style nets
(own patch embedding, zero pooled projections, hint latents without the VAE shift) and SD3.5
large-style nets (the transformer's patch embedding, no context), single and stacked, with
strength and start/end; and the single-file layouts load equal to their folders.

diffusers samples the hint's VAE posterior (``latent_dist.sample()``); we take its mode, as
ComfyUI and our VAE Encode do, so the reference runs with the posterior's mode too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.controlnet import load_controlnet
from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder
from pipelines.testing.tiny_transformer_control import (
    build_tiny_sd3_controlnet,
    write_controlnet_file,
)
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT, NEGATIVE = "a red cat on the mat", "a blue dog"
TOLERANCE, SIZE, STEPS = 1e-5, 32, 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd3-control")
    folder = build_tiny_sd3_folder(root / "model", "sd3_control")
    nets = {"instantx": build_tiny_sd3_controlnet(folder, root / "cn-instantx", "instantx", 1, 2),
            "instantx2": build_tiny_sd3_controlnet(folder, root / "cn-instantx2", "instantx", 2),
            "sd35": build_tiny_sd3_controlnet(folder, root / "cn-sd35", "sd35", 3, 2)}
    return folder, nets, root


@pytest.fixture(scope="module")
def loaded(tiny):
    return load_checkpoint(tiny[0])


def _hint(seed: int) -> tuple[Image.Image, torch.Tensor]:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels), torch.from_numpy(pixels).float().div(255)[None]


def _reference(folder, nets, images, monkeypatch, **kwargs):
    from diffusers import SD3ControlNetModel, StableDiffusion3ControlNetPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    monkeypatch.setattr(DiagonalGaussianDistribution, "sample",
                        lambda self, generator=None: self.mode())
    models = [SD3ControlNetModel.from_pretrained(n) for n in nets]
    pipe = StableDiffusion3ControlNetPipeline.from_pretrained(
        folder, controlnet=models[0] if len(models) == 1 else models, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(PROMPT, negative_prompt=NEGATIVE, control_image=images[0] if len(images) == 1
               else images, num_inference_steps=STEPS, height=SIZE, width=SIZE,
               generator=torch.Generator().manual_seed(3), output_type="latent", **kwargs).images
    monkeypatch.undo()
    return out


def _ours(loaded, controls, cfg, *, start=0.0, end=1.0):
    model, clip, vae = loaded
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    for control, image, strength in controls:
        pos, neg = apply_control(pos, neg, control, image, strength, start, end, vae=vae)
    side = SIZE // model.vae_scale_factor
    return denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, side, side)), Noise(3),
                   sampler="euler", steps=STEPS, cfg=cfg).samples


@pytest.mark.parametrize("style,strength,start,end,cfg", [
    ("instantx", 0.7, 0.0, 1.0, 4.5), ("instantx", 1.0, 0.25, 0.75, 4.5),
    ("sd35", 0.8, 0.0, 1.0, 4.5), ("sd35", 1.0, 0.0, 0.5, 1.0)])
def test_one_controlnet_equals_the_pipeline(tiny, loaded, monkeypatch, style, strength, start,
                                            end, cfg):
    folder, nets, _ = tiny
    pil, image = _hint(1)
    control = load_controlnet(nets[style])
    assert control.kind == "sd3_controlnet"
    ours = _ours(loaded, [(control, image, strength)], cfg, start=start, end=end)
    plain = _ours(loaded, [], cfg)
    ref = _reference(folder, [nets[style]], [pil], monkeypatch, guidance_scale=cfg,
                     controlnet_conditioning_scale=strength, control_guidance_start=start,
                     control_guidance_end=end)
    diff = (ours - ref).abs().max().item()
    print(f"SD3 ControlNet {style} strength {strength} [{start}, {end}] cfg {cfg}: {diff:.2e}")
    assert diff <= TOLERANCE
    assert (ours - plain).abs().max() > 1e-3  # the control steers


def test_stacked_controlnets_equal_the_multi_controlnet_pipeline(tiny, loaded, monkeypatch):
    folder, nets, _ = tiny
    (pil_a, image_a), (pil_b, image_b) = _hint(1), _hint(2)
    a, b = load_controlnet(nets["instantx"]), load_controlnet(nets["instantx2"])
    ours = _ours(loaded, [(a, image_a, 0.6), (b, image_b, 0.9)], 4.5)
    ref = _reference(folder, [nets["instantx"], nets["instantx2"]], [pil_a, pil_b], monkeypatch,
                     guidance_scale=4.5, controlnet_conditioning_scale=[0.6, 0.9])
    diff = (ours - ref).abs().max().item()
    print(f"SD3 two stacked ControlNets: {diff:.2e}")
    assert diff <= TOLERANCE


@pytest.mark.parametrize("style,layout", [("instantx", "diffusers"), ("sd35", "sd35")])
def test_single_files_load_equal_to_their_folders(tiny, style, layout):
    from pipelines.loading.detect import detect

    _, nets, root = tiny
    path = write_controlnet_file(nets[style], root / f"{style}-{layout}.safetensors", layout)
    folder, single = load_controlnet(nets[style]), load_controlnet(path)
    assert single.kind == "sd3_controlnet"
    for key in ("force_zeros_for_pooled_projection", "use_pos_embed", "joint_attention_dim",
                "num_layers", "num_attention_heads", "attention_head_dim"):
        assert single.network.config[key] == folder.network.config[key], key
    mine, theirs = single.network.state_dict(), folder.network.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    found = detect(path)
    assert found.family == "sd3" and "SD3" in found.note


def test_an_sd3_controlnet_needs_the_vae_and_refuses_other_families(tiny, loaded):
    from pipelines.errors import StudioError

    _, nets, _ = tiny
    model, clip, _ = loaded
    control = load_controlnet(nets["instantx"])
    pos, neg = apply_control(encode_text(clip, PROMPT), None, control, _hint(1)[1])
    with pytest.raises(StudioError, match="VAE"):
        denoise(model, pos, neg, Latent(samples=torch.zeros(1, 16, 16, 16)), Noise(3), steps=1,
                cfg=1.0)


def test_masks_and_a_positive_only_hint(tiny, loaded):
    _, nets, _ = tiny
    model, clip, vae = loaded
    control = load_controlnet(nets["instantx"])
    image = _hint(1)[1]
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, NEGATIVE)
    side = SIZE // model.vae_scale_factor

    def run(positive, negative):
        return denoise(model, positive, negative, Latent(samples=torch.zeros(1, 16, side, side)),
                       Noise(3), sampler="euler", steps=STEPS, cfg=4.5).samples

    plain = run(pos, neg)
    both = run(*apply_control(pos, neg, control, image, vae=vae))
    ones = run(*apply_control(pos, neg, control, image, mask=torch.ones(1, SIZE, SIZE), vae=vae))
    zeros = run(*apply_control(pos, neg, control, image, mask=torch.zeros(1, SIZE, SIZE),
                               vae=vae))
    left = torch.zeros(1, SIZE, SIZE)
    left[..., : SIZE // 2] = 1
    half = run(*apply_control(pos, neg, control, image, mask=left, vae=vae))
    positive_only = run(apply_control(pos, None, control, image, vae=vae)[0], neg)
    assert torch.equal(ones, both) and torch.equal(zeros, plain)
    assert (half - both).abs().max() > 1e-4 and (half - plain).abs().max() > 1e-4
    assert (positive_only - both).abs().max() > 1e-4
    assert (positive_only - plain).abs().max() > 1e-4


def test_stability_canny_file_reads_its_hint_as_stability_scales_it(tiny, loaded, monkeypatch):
    """Stability's SD3.5 files carry ``control_type`` (1: canny); their reference code feeds
    the VAE ``x * 255 * 0.5 + 0.5`` for canny: the pipeline given that tensor as its hint."""
    _, nets, root = tiny
    canny = write_controlnet_file(nets["sd35"], root / "canny.safetensors", "sd35")
    control = load_controlnet(canny)
    assert control.network.studio_control_type == 1
    _, image = _hint(4)
    ours = _ours(loaded, [(control, image, 1.0)], 4.5)
    scaled = image.permute(0, 3, 1, 2) * 255 * 0.5 + 0.5
    ref = _reference(tiny[0], [nets["sd35"]], [scaled], monkeypatch, guidance_scale=4.5)
    diff = (ours - ref).abs().max().item()
    print(f"SD3.5 canny file (Stability hint scale): {diff:.2e}")
    assert diff <= TOLERANCE
    plain_scale = _ours(loaded, [(load_controlnet(nets["sd35"]), image, 1.0)], 4.5)
    assert (ours - plain_scale).abs().max() > 1e-4
