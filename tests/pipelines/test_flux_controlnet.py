"""Flux ControlNets (``FluxControlNetModel``) through Load ControlNet + Apply ControlNet + our
denoise loop equal diffusers' FluxControlNetPipeline on tiny random components saved with
``save_pretrained`` (same seed, CPU, max abs diff <= 1e-5): InstantX-style nets (packed hint
latents) on dev and schnell, a Union net with its control mode, stacked nets, start/end, and
an XLabs-style net (a pixel hint block whose blocks repeat); the single-file layouts load
equal to their folders.

diffusers samples the hint's VAE posterior with the run's generator; we take its mode, as
ComfyUI and our VAE Encode do, so the reference runs with the posterior's mode too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.families.flux import unpack
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.controlnet import load_controlnet
from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.testing.tiny_flux import build_tiny_flux
from pipelines.testing.tiny_transformer_control import (
    build_tiny_flux_controlnet,
    write_controlnet_file,
)
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"
TOLERANCE, STEPS = 1e-5, 3


def _xlabs_model(folder, target):
    """The tiny Flux dev folder with an 8x VAE (XLabs' hint block downsamples 8x)."""
    from diffusers import AutoencoderKL, FluxPipeline

    pipe = FluxPipeline.from_pretrained(folder, local_files_only=True)
    torch.manual_seed(5)
    pipe.vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(32,) * 4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=16, norm_num_groups=32, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159).eval()
    pipe.save_pretrained(str(target), safe_serialization=True)
    return target


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-control")
    dev = build_tiny_flux(root / "dev", "dev")
    models = {"dev": dev, "schnell": build_tiny_flux(root / "schnell", "schnell"),
              "xlabs": _xlabs_model(dev, root / "dev-8x")}
    nets = {"instantx": build_tiny_flux_controlnet(dev, root / "cn-a", 1),
            "instantx2": build_tiny_flux_controlnet(dev, root / "cn-b", 2),
            "union": build_tiny_flux_controlnet(dev, root / "cn-union", 3, modes=10),
            "xlabs": build_tiny_flux_controlnet(dev, root / "cn-xlabs", 4, xlabs=True, layers=2)}
    return models, nets, root


@pytest.fixture(scope="module")
def loaded(tiny):
    return {name: load_checkpoint(folder) for name, folder in tiny[0].items()}


def _hint(seed: int, size: int) -> tuple[Image.Image, torch.Tensor]:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels), torch.from_numpy(pixels).float().div(255)[None]


def _reference(folder, nets, images, monkeypatch, size, **kwargs):
    from diffusers import FluxControlNetModel, FluxControlNetPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    monkeypatch.setattr(DiagonalGaussianDistribution, "sample",
                        lambda self, generator=None: self.mode())
    models = [FluxControlNetModel.from_pretrained(n) for n in nets]
    pipe = FluxControlNetPipeline.from_pretrained(
        folder, controlnet=models[0] if len(models) == 1 else models, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(PROMPT, control_image=images[0] if len(images) == 1 else images,
               num_inference_steps=STEPS, height=size, width=size, guidance_scale=3.5,
               generator=torch.Generator().manual_seed(0), output_type="latent",
               max_sequence_length=512 if "schnell" not in str(folder) else 256,
               **kwargs).images
    monkeypatch.undo()
    side = size // pipe.vae_scale_factor
    return unpack(out, side, side)


def _ours(loaded, controls, size, *, start=0.0, end=1.0):
    model, clip, vae = loaded
    pos = encode_text(clip, PROMPT)
    for control, image, strength in controls:
        pos, _ = apply_control(pos, None, control, image, strength, start, end, vae=vae)
    side = size // model.vae_scale_factor
    return denoise(model, pos, None, Latent(samples=torch.zeros(1, 16, side, side)), Noise(0),
                   steps=STEPS, cfg=1.0).samples


def _check(ours, ref, plain, what):
    diff = (ours - ref).abs().max().item()
    print(f"Flux ControlNet {what}: {diff:.2e}")
    assert diff <= TOLERANCE
    assert (ours - plain).abs().max() > 1e-3  # the control steers


@pytest.mark.parametrize("variant,strength,start,end", [
    ("dev", 0.7, 0.0, 1.0), ("dev", 1.0, 0.3, 1.0), ("schnell", 0.8, 0.0, 1.0)])
def test_one_controlnet_equals_the_pipeline(tiny, loaded, monkeypatch, variant, strength, start,
                                            end):
    models, nets, _ = tiny
    pil, image = _hint(1, 16)
    control = load_controlnet(nets["instantx"])
    assert control.kind == "flux_controlnet"
    ours = _ours(loaded[variant], [(control, image, strength)], 16, start=start, end=end)
    ref = _reference(models[variant], [nets["instantx"]], [pil], monkeypatch, 16,
                     controlnet_conditioning_scale=strength, control_guidance_start=start,
                     control_guidance_end=end)
    _check(ours, ref, _ours(loaded[variant], [], 16), f"{variant} {strength} [{start}, {end}]")


def test_union_controlnet_with_its_mode_equals_the_pipeline(tiny, loaded, monkeypatch):
    import dataclasses

    from pipelines.errors import StudioError

    models, nets, _ = tiny
    pil, image = _hint(1, 16)
    control = load_controlnet(nets["union"])
    with pytest.raises(StudioError, match="Union"):
        _ours(loaded["dev"], [(control, image, 1.0)], 16)
    ours = _ours(loaded["dev"], [(dataclasses.replace(control, union_type=2), image, 0.9)], 16)
    other = _ours(loaded["dev"], [(dataclasses.replace(control, union_type=4), image, 0.9)], 16)
    ref = _reference(models["dev"], [nets["union"]], [pil], monkeypatch, 16, control_mode=2,
                     controlnet_conditioning_scale=0.9)
    _check(ours, ref, _ours(loaded["dev"], [], 16), "Union mode 2")
    assert (ours - other).abs().max() > 1e-4  # the mode matters


def test_stacked_controlnets_equal_the_multi_controlnet_pipeline(tiny, loaded, monkeypatch):
    models, nets, _ = tiny
    (pil_a, image_a), (pil_b, image_b) = _hint(1, 16), _hint(2, 16)
    a, b = load_controlnet(nets["instantx"]), load_controlnet(nets["instantx2"])
    ours = _ours(loaded["dev"], [(a, image_a, 0.6), (b, image_b, 0.9)], 16)
    ref = _reference(models["dev"], [nets["instantx"], nets["instantx2"]], [pil_a, pil_b],
                     monkeypatch, 16, controlnet_conditioning_scale=[0.6, 0.9])
    _check(ours, ref, _ours(loaded["dev"], [], 16), "two stacked")


def test_xlabs_controlnet_equals_the_pipeline(tiny, loaded, monkeypatch):
    models, nets, _ = tiny
    pil, image = _hint(3, 32)
    control = load_controlnet(nets["xlabs"])
    ours = _ours(loaded["xlabs"], [(control, image, 0.8)], 32)
    ref = _reference(models["xlabs"], [nets["xlabs"]], [pil], monkeypatch, 32,
                     controlnet_conditioning_scale=0.8)
    _check(ours, ref, _ours(loaded["xlabs"], [], 32), "XLabs")


@pytest.mark.parametrize("net,layout", [("instantx", "diffusers"), ("union", "diffusers"),
                                        ("xlabs", "xlabs")])
def test_single_files_load_equal_to_their_folders(tiny, net, layout):
    from pipelines.loading.detect import detect

    _, nets, root = tiny
    path = write_controlnet_file(nets[net], root / f"{net}-{layout}.safetensors", layout)
    folder, single = load_controlnet(nets[net]), load_controlnet(path)
    assert single.kind == "flux_controlnet"
    def config(control):
        return {k: v for k, v in control.network.config.items() if not k.startswith("_")}

    assert config(single) == config(folder)
    mine, theirs = single.network.state_dict(), folder.network.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    found = detect(path)
    assert found.family == "flux_dev" and "Flux ControlNet" in found.note


def test_a_flux_controlnet_does_not_fit_an_sd3_model_nor_the_other_way(tiny, loaded):
    from pipelines.errors import StudioError

    _, nets, _ = tiny
    model, clip, vae = loaded["dev"]
    control = load_controlnet(nets["instantx"])
    wrong = type(control)(control.network, "sd3_controlnet", "sd3-net")
    pos, _ = apply_control(encode_text(clip, PROMPT), None, wrong, _hint(1, 16)[1], vae=vae)
    with pytest.raises(StudioError, match="SD3 ControlNet does not fit a Flux"):
        denoise(model, pos, None, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(0), steps=1,
                cfg=1.0)


def test_unsupported_and_broken_files_are_refused_naming_the_file(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    from pipelines.errors import ModelLoadError

    _, nets, _ = tiny
    misto = tmp_path / "mistoline.safetensors"
    save_file({"controlnet_blocks.0.linear.weight": torch.zeros(2, 2)}, str(misto))
    with pytest.raises(ModelLoadError, match="MistoLine") as caught:
        load_controlnet(misto)
    assert "mistoline.safetensors" in str(caught.value)
    state = load_file(str(nets["instantx"] / "diffusion_pytorch_model.safetensors"))
    del state["context_embedder.weight"]
    broken = tmp_path / "broken.safetensors"
    save_file(state, str(broken))
    with pytest.raises(ModelLoadError) as caught:
        load_controlnet(broken)
    assert "broken.safetensors" in str(caught.value) and "\n" not in str(caught.value).strip()
