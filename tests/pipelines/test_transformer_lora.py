"""LoRA on transformer families: a kohya/sd-scripts Flux LoRA (BFL names, fused qkv, alphas) and
a diffusers/PEFT SD3 LoRA, applied by our LoRA path to patched copies, sample what diffusers'
FluxPipeline / StableDiffusion3Pipeline sample with the same deltas merged into their weights
by hand (same seed, CPU, max abs diff <= 1e-5); the cached base model is left as it was."""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.lora import apply_lora
from pipelines.sampling.denoise import denoise
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red cat on the mat"
TOL = 1e-5


def _lora(generator: torch.Generator, out: int, inner: int, rank: int = 2
          ) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(rank, inner, generator=generator) * 0.3,
            torch.randn(out, rank, generator=generator) * 0.3)


def _merge(net: torch.nn.Module, deltas: dict[str, torch.Tensor]) -> None:
    """Add each delta to the module's weight in place (the reference pipeline's own copy)."""
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, delta in deltas.items():
            modules[name].weight += delta


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("flux-lora") / "flux-dev", "dev")


def test_kohya_flux_lora_equals_the_pipeline_with_merged_deltas(flux_folder):
    from diffusers import FluxPipeline

    from pipelines.families.flux import unpack

    g = torch.Generator().manual_seed(0)
    inner, rank = 64, 2
    qkv_down, qkv_up = _lora(g, 3 * inner, inner)
    proj_down, proj_up = _lora(g, inner, inner)
    lin2_down, lin2_up = _lora(g, inner, 5 * inner)
    state = {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": qkv_down,
             "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": qkv_up,
             "lora_unet_double_blocks_0_img_attn_qkv.alpha": torch.tensor(1.0),
             "lora_unet_double_blocks_0_img_attn_proj.lora_down.weight": proj_down,
             "lora_unet_double_blocks_0_img_attn_proj.lora_up.weight": proj_up,
             "lora_unet_single_blocks_0_linear2.lora_down.weight": lin2_down,
             "lora_unet_single_blocks_0_linear2.lora_up.weight": lin2_up,
             "lora_unet_single_blocks_0_linear2.alpha": torch.tensor(4.0)}
    qkv = (qkv_up @ qkv_down) * (1.0 / rank)
    deltas = {"transformer_blocks.0.attn.to_q": qkv[:inner],
              "transformer_blocks.0.attn.to_k": qkv[inner:2 * inner],
              "transformer_blocks.0.attn.to_v": qkv[2 * inner:],
              "transformer_blocks.0.attn.to_out.0": proj_up @ proj_down,  # no alpha: scale 1
              "single_transformer_blocks.0.proj_out": (lin2_up @ lin2_down) * (4.0 / rank)}
    model, clip, _ = load_checkpoint(flux_folder)
    cond = encode_text(clip, PROMPT)

    def sample(m):
        return denoise(m, cond, None, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(0),
                       steps=3, cfg=1.0).samples

    before = sample(model)
    patched, _ = apply_lora(model, clip, state, 1.0, 1.0, source="flux-kohya.safetensors")
    ours = sample(patched)
    pipe = FluxPipeline.from_pretrained(flux_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    _merge(pipe.transformer, deltas)
    ref = pipe(PROMPT, height=16, width=16, num_inference_steps=3, guidance_scale=3.5,
               generator=torch.Generator().manual_seed(0), output_type="latent").images
    diff = (ours - unpack(ref, 8, 8)).abs().max().item()
    print(f"Flux kohya LoRA max abs diff vs FluxPipeline with merged deltas: {diff}")
    assert diff <= TOL
    assert (ours - before).abs().max() > 1e-3  # the LoRA changes the result
    assert torch.equal(sample(model), before)  # the base model is untouched


def test_peft_sd3_lora_equals_the_pipeline_with_merged_deltas(tmp_path):
    from diffusers import StableDiffusion3Pipeline

    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

    folder = build_tiny_sd3_folder(tmp_path / "sd3", "sd3")
    model, clip, _ = load_checkpoint(folder)
    g = torch.Generator().manual_seed(1)
    modules = dict(model.denoiser.named_modules())
    state, deltas = {}, {}
    for name in ("transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.add_k_proj",
                 "transformer_blocks.0.ff.net.2"):
        out, inner = modules[name].weight.shape
        down, up = _lora(g, out, inner)
        state[f"transformer.{name}.lora_A.weight"] = down
        state[f"transformer.{name}.lora_B.weight"] = up
        deltas[name] = up @ down * 0.5  # strength 0.5
    pos, neg = encode_text(clip, PROMPT), encode_text(clip, "")
    patched, same_clip = apply_lora(model, clip, state, 0.5, 1.0, source="sd3-peft.safetensors")
    assert same_clip is clip  # no text encoder layers in this LoRA
    ours = denoise(patched, pos, neg, Latent(samples=torch.zeros(1, 16, 8, 8)), Noise(2),
                   steps=3, cfg=4.5).samples
    pipe = StableDiffusion3Pipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    _merge(pipe.transformer, deltas)
    ref = pipe(PROMPT, negative_prompt="", height=16, width=16, num_inference_steps=3,
               guidance_scale=4.5, generator=torch.Generator().manual_seed(2),
               output_type="latent").images
    diff = (ours - ref).abs().max().item()
    print(f"SD3 PEFT LoRA max abs diff vs StableDiffusion3Pipeline with merged deltas: {diff}")
    assert diff <= TOL


def test_an_sd1_lora_on_flux_is_a_clear_error(flux_folder):
    from pipelines.errors import ModelLoadError

    model, clip, _ = load_checkpoint(flux_folder)
    state = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 4),
             "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(4, 2)}
    with pytest.raises(ModelLoadError, match="sd1-lora.safetensors"):
        apply_lora(model, clip, state, 1.0, 1.0, source="sd1-lora.safetensors")
