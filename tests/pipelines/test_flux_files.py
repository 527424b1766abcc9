"""Flux.1 from the separate files users have: the transformer alone (BFL layout, with or
without ComfyUI's prefix, or diffusers layout), fp8-stored weights, CLIP-L + T5 files and the
16-channel ``ae`` VAE; each detected from its header and equal to the diffusers folder."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.families import get_family
from pipelines.loading.checkpoint import load_checkpoint, load_vae
from pipelines.loading.convert import vae_to_original
from pipelines.loading.detect import detect
from pipelines.sampling.denoise import denoise
from pipelines.testing.tiny_flux import (
    build_tiny_flux,
    write_text_encoder_files,
    write_transformer_file,
)
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-files")
    folder = build_tiny_flux(root / "flux-dev", "dev")
    return root, folder, load_checkpoint(folder)


def _sample(model, cond, steps=3):
    latent = Latent(samples=torch.zeros(1, 16, 8, 8))
    return denoise(model, cond, None, latent, Noise(0), steps=steps, cfg=1.0).samples


@pytest.mark.parametrize("layout,prefix", [("bfl", ""), ("bfl", "model.diffusion_model."),
                                           ("diffusers", "")])
def test_transformer_file_is_detected_and_equals_the_folder(dev, layout, prefix):
    root, _, (model, clip, _) = dev
    path = write_transformer_file(model.denoiser, root / f"{layout}-{bool(prefix)}.safetensors",
                                  layout=layout, prefix=prefix)
    found = detect(path)
    assert (found.kind, found.family) == ("unet", "flux_dev")
    loaded = get_family(found.family).load_denoiser_file(path, "default")
    assert loaded.family == "flux_dev" and loaded.latent_channels == 16
    cond = encode_text(clip, PROMPT)
    assert torch.equal(_sample(loaded, cond), _sample(model, cond))


def test_schnell_file_without_guidance_in_is_schnell(tmp_path):
    from pipelines.testing.tiny_flux import build_transformer

    path = write_transformer_file(build_transformer(False), tmp_path / "flux1-schnell.safetensors")
    found = detect(path)
    assert (found.kind, found.family) == ("unet", "flux_schnell")
    model = get_family("flux_schnell").load_denoiser_file(path, "default")
    assert model.family == "flux_schnell" and not model.denoiser.config.guidance_embeds
    assert model.scheduler_config["use_dynamic_shifting"] is False


def test_any_inner_width_converts(tmp_path):
    """diffusers' converter assumes FLUX.1's 3072; ours reads the widths from the tensors."""
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(1)
    wide = FluxTransformer2DModel(in_channels=64, num_layers=2, num_single_layers=3,
                                  attention_head_dim=16 * 2, num_attention_heads=3,
                                  joint_attention_dim=24, pooled_projection_dim=40,
                                  axes_dims_rope=[4, 14, 14], guidance_embeds=True).eval()
    path = write_transformer_file(wide, tmp_path / "odd.safetensors")
    loaded = get_family("flux_dev").load_denoiser_file(path, "float32").denoiser
    for key in ("num_layers", "num_single_layers", "num_attention_heads", "joint_attention_dim",
                "pooled_projection_dim", "attention_head_dim"):
        assert loaded.config[key] == wide.config[key], key
    ref = wide.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())


def test_fp8_file_stays_fp8_and_samples_close_to_bf16(dev):
    """Stated tolerance: the fp8 (e4m3fn) copy's latent is within 5% (relative L2) of the
    bfloat16 copy's after 3 steps (measured: about 1.6% on the tiny model)."""
    root, _, (model, clip, _) = dev
    fp8 = write_transformer_file(model.denoiser, root / "fp8.safetensors",
                                 dtype=torch.float8_e4m3fn, prefix="model.diffusion_model.")
    bf16 = write_transformer_file(model.denoiser, root / "bf16.safetensors",
                                  dtype=torch.bfloat16)
    assert detect(fp8).family == "flux_dev"
    family = get_family("flux_dev")
    m8, m16 = family.load_denoiser_file(fp8, "default"), family.load_denoiser_file(bf16, "default")
    stored = {p.dtype for p in m8.denoiser.transformer_blocks.parameters()}
    assert torch.float8_e4m3fn in stored  # kept fp8 in memory
    assert family.denoiser_dtype(m8) == torch.bfloat16 == family.denoiser_dtype(m16)
    cond = encode_text(clip, PROMPT)
    out8, out16 = _sample(m8, cond), _sample(m16, cond)
    assert torch.isfinite(out8).all()
    assert ((out8 - out16).norm() / out16.norm()).item() < 0.05
    # a bf16 file asked to store fp8 (ComfyUI's weight_dtype fp8_e5m2) also samples
    m5 = family.load_denoiser_file(bf16, "fp8_e5m2")
    assert ((_sample(m5, cond) - out16).norm() / out16.norm()).item() < 0.1


def test_text_encoder_files_equal_the_folder_encoders(dev):
    root, folder, (_, clip, _) = dev
    clip_l, t5 = write_text_encoder_files(root / "text", folder)
    assert detect(clip_l).kind == detect(t5).kind == "text_encoder"
    assert "T5" in detect(t5).note and "CLIP" in detect(clip_l).note
    loaded = get_family("flux_dev").load_text_encoder_files([t5, clip_l])  # either order
    ours, ref = encode_text(loaded, PROMPT), encode_text(clip, PROMPT)
    assert torch.equal(ours.embeds, ref.embeds)
    assert torch.equal(ours.extras["pooled"], ref.extras["pooled"])


def test_text_encoder_files_need_one_clip_and_one_t5(dev):
    from pipelines.errors import ModelLoadError

    root, folder, _ = dev
    clip_l, _ = write_text_encoder_files(root / "text-2", folder)
    with pytest.raises(ModelLoadError, match="no T5"):
        get_family("flux_dev").load_text_encoder_files([clip_l])


def test_ae_file_in_original_layout_loads_with_flux_scale_and_shift(dev):
    root, _, (_, _, vae) = dev
    path = root / "ae.safetensors"
    save_file({k: v.contiguous() for k, v in vae_to_original(vae.vae.state_dict(),
                                                             prefix="").items()}, str(path))
    assert detect(path).kind == "vae"
    loaded = load_vae(path)
    assert (loaded.scaling_factor, loaded.shift_factor) == (0.3611, 0.1159)
    z = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.vae.decode(z).sample, vae.vae.decode(z).sample)
