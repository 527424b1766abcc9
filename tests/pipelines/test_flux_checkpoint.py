"""ComfyUI's all-in-one Flux checkpoints (``model.diffusion_model.*`` BFL transformer +
``text_encoders.clip_l/t5xxl.transformer.*`` + ``vae.*``) are detected as checkpoints and load
with Load Checkpoint to the networks of the diffusers folder they were written from; an fp8
transformer inside stays fp8."""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.detect import detect
from pipelines.sampling.denoise import denoise
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise


def _write(root, folder, name: str, dtype=None):
    """The checkpoint as ComfyUI saves it, next to clip_tokenizer / t5_tokenizer folders."""
    from diffusers import FluxTransformer2DModel
    from safetensors.torch import load_file, save_file

    from pipelines.loading.convert import vae_to_original
    from pipelines.loading.flux_convert import diffusers_to_bfl
    from pipelines.testing.tiny_flux import write_text_encoder_files

    clip_file, t5_file = write_text_encoder_files(root, folder)
    transformer = FluxTransformer2DModel.from_pretrained(str(folder / "transformer"))
    state = {f"model.diffusion_model.{k}": (v if dtype is None else v.to(dtype)).contiguous()
             for k, v in diffusers_to_bfl(transformer.state_dict()).items()}
    state |= {f"text_encoders.clip_l.transformer.{k}": v for k, v in
              load_file(str(clip_file)).items()}
    state |= {f"text_encoders.t5xxl.transformer.{k}": v for k, v in
              load_file(str(t5_file)).items()}
    vae = load_checkpoint(folder)[2].vae
    state |= {f"vae.{k}": v.contiguous() for k, v in
              vae_to_original(vae.state_dict(), prefix="").items()}
    path = root / name
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux

    root = tmp_path_factory.mktemp("flux-aio")
    folder = build_tiny_flux(root / "flux-dev", "dev")
    return folder, _write(root / "files", folder, "flux1-dev.safetensors")


def _sample(model, clip) -> torch.Tensor:
    cond = encode_text(clip, "a red cat")
    return denoise(model, cond, None, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(1),
                   steps=2, cfg=1.0).samples


def test_all_in_one_flux_file_is_a_checkpoint_equal_to_its_folder(built):
    folder, path = built
    assert detect(path).describe().startswith("checkpoint flux_dev")
    model, clip, vae = load_checkpoint(path)
    ref_model, ref_clip, ref_vae = load_checkpoint(folder)
    assert model.family == clip.family == "flux_dev"
    assert (vae.scaling_factor, vae.shift_factor) == (0.3611, 0.1159)
    for ours, ref in ((model.denoiser, ref_model.denoiser), (vae.vae, ref_vae.vae),
                      (clip.text_encoder, ref_clip.text_encoder),
                      (clip.text_encoder_2, ref_clip.text_encoder_2)):
        theirs = ref.state_dict()
        for key, value in ours.state_dict().items():
            assert torch.equal(value, theirs[key]), key
    assert torch.equal(_sample(model, clip), _sample(ref_model, ref_clip))


def test_an_fp8_transformer_inside_stays_fp8(built, tmp_path):
    folder, _ = built
    path = _write(tmp_path, folder, "flux1-dev-fp8.safetensors", torch.float8_e4m3fn)
    model, _, _ = load_checkpoint(path, dtype=torch.bfloat16)
    weight = model.denoiser.transformer_blocks[0].attn.to_q.weight
    assert weight.dtype == torch.float8_e4m3fn
    assert model.denoiser.studio_compute_dtype == torch.bfloat16


def test_a_prefixed_transformer_without_vae_stays_a_diffusion_model_file(built, tmp_path):
    from safetensors.torch import load_file, save_file

    _, path = built
    alone = {k: v for k, v in load_file(str(path)).items()
             if k.startswith("model.diffusion_model.")}
    save_file(alone, str(tmp_path / "transformer.safetensors"))
    assert detect(tmp_path / "transformer.safetensors").kind == "unet"


def test_a_cuda_load_places_the_transformer_and_vae_weight_by_weight(built, monkeypatch):
    """Where ``direct_device`` gives a device (a CUDA run; here the CPU itself stands in), the
    transformer and the VAE never exist whole on the CPU first (no ``prepare`` copy), and the
    networks are the CPU load's, tensor for tensor."""
    from pipelines.loading import components, flux_files, gguf_model

    _, path = built
    mixed = {"denoiser": torch.bfloat16, "text_encoder": torch.float16, "vae": torch.float32}
    today = load_checkpoint(path, dtype=mixed)
    copied: list[str] = []

    def spy(real):
        def prepare(model, *args):
            copied.append(type(model).__name__)
            return real(model, *args)
        return prepare

    monkeypatch.setattr(flux_files, "prepare", spy(flux_files.prepare))
    monkeypatch.setattr(gguf_model, "prepare", spy(gguf_model.prepare))
    monkeypatch.setattr(components, "direct_device", lambda device: torch.device(device))
    direct = load_checkpoint(path, dtype=mixed)
    assert "FluxTransformer2DModel" not in copied and "AutoencoderKL" not in copied
    assert copied == ["CLIPTextModel"]  # CLIP-L keeps its stored-dtype CPU path
    for ours, ref in ((direct[0].denoiser, today[0].denoiser), (direct[2].vae, today[2].vae),
                      (direct[1].text_encoder_2, today[1].text_encoder_2)):
        want = dict(ref.named_parameters()) | dict(ref.named_buffers())
        got = dict(ours.named_parameters()) | dict(ours.named_buffers())
        assert want.keys() == got.keys()
        for key, value in want.items():
            assert got[key].dtype == value.dtype and torch.equal(got[key], value), key
    assert {p.dtype for p in direct[0].denoiser.parameters()} == {torch.bfloat16}


def test_t5_kept_in_ram_stays_on_the_cpu(built, monkeypatch):
    """A CUDA run (``meta`` stands in for the GPU) leaves T5 on the CPU, where the placement
    rule keeps it, instead of moving it to the device and back; the rest goes there."""
    from functools import partial

    from pipelines.loading import components
    from pipelines.memory import placement

    _, path = built
    rule = partial(placement.kept_in_ram, device="cuda")  # the CUDA rule, for the stand-in
    monkeypatch.setattr(placement, "kept_in_ram", lambda kind, device, vram_mode: rule(
        kind, vram_mode=vram_mode))
    monkeypatch.setattr(components, "direct_device", lambda device: torch.device(device))
    model, clip, vae = load_checkpoint(path, device="meta", vram_mode="normal")
    assert {p.device.type for p in clip.text_encoder_2.parameters()} == {"cpu"}
    for net in (model.denoiser, vae.vae, clip.text_encoder):
        assert {p.device.type for p in net.parameters()} == {"meta"}
