"""GGUF transformers kept quantized (issue 13): Load Diffusion Model keeps a Q8_0 file's
blocks in the Linear layers and dequantizes them per call. The SD3 result equals diffusers'
own GGUF loading (``from_single_file`` + ``GGUFQuantizationConfig``); Flux (whose diffusers
converter cannot take tiny files) equals the same model with the blocks expanded; memory is
the quantized size; a LoRA applies on top."""

from __future__ import annotations

import pytest
import torch

from tests.pipelines.test_gguf import write_gguf

pytest.importorskip("gguf")


def _plain_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _expanded(clone: torch.nn.Module) -> torch.nn.Module:
    """``clone`` (a second load of the model) with its quantized weights made plain float32."""
    from pipelines.loading.gguf_model import is_quantized, plain_weight

    for module in clone.modules():
        if is_quantized(getattr(module, "weight", None)):
            module.weight = torch.nn.Parameter(plain_weight(module).float(), requires_grad=False)
    return clone


def test_a_q8_sd3_file_stays_quantized_and_equals_diffusers_gguf_loading(tmp_path):
    from diffusers import GGUFQuantizationConfig, SD3Transformer2DModel

    from pipelines.families import get_family
    from pipelines.loading.gguf_model import QuantizedLinear, is_quantized, quantized_bytes
    from pipelines.loading.sd3_convert import transformer_to_original
    from pipelines.testing.tiny_sd3 import build_transformer

    source = build_transformer("sd35", seed=4)
    source.save_pretrained(tmp_path / "config")
    original = transformer_to_original(
        {k: v.detach().clone() for k, v in source.state_dict().items()}, prefix="")
    path = write_gguf(original, tmp_path / "sd3.5-tiny-Q8_0.gguf", quantize=True)

    model = get_family("sd3").load_denoiser_file(path, "float32").denoiser
    layer = model.transformer_blocks[0].attn.to_q
    assert isinstance(layer, QuantizedLinear) and is_quantized(layer.weight)
    assert 0 < quantized_bytes(model) and _plain_bytes(model) < _plain_bytes(source) * 0.6

    reference = SD3Transformer2DModel.from_single_file(
        str(path), config=str(tmp_path / "config"), local_files_only=True,
        quantization_config=GGUFQuantizationConfig(compute_dtype=torch.float32),
        torch_dtype=torch.float32)
    torch.manual_seed(0)
    inputs = {"hidden_states": torch.randn(1, 16, 16, 16),
              "encoder_hidden_states": torch.randn(1, 7, source.config.joint_attention_dim),
              "pooled_projections": torch.randn(1, source.config.pooled_projection_dim),
              "timestep": torch.tensor([500.0])}
    with torch.no_grad():
        ours = model(**inputs).sample
        theirs = reference(**inputs).sample
    diff = (ours - theirs).abs().max().item()
    print(f"SD3 Q8_0 GGUF vs diffusers' GGUF loading: max abs diff {diff}")
    assert diff <= 1e-5


def test_a_q8_flux_file_stays_quantized_and_runs_like_its_expanded_weights(tmp_path):
    from pipelines.families import get_family
    from pipelines.loading.flux_convert import diffusers_to_bfl
    from pipelines.loading.gguf_model import quantized_bytes
    from pipelines.testing.tiny_flux import build_transformer

    source = build_transformer(guidance=True, seed=3)
    bfl = diffusers_to_bfl({k: v.detach().clone() for k, v in source.state_dict().items()})
    path = write_gguf(bfl, tmp_path / "flux1-dev-Q8_0.gguf", quantize=True)
    model = get_family("flux_dev").load_denoiser_file(path, "float32").denoiser
    assert quantized_bytes(model) > 0
    ratio = _plain_bytes(model) / _plain_bytes(source)
    print(f"Flux Q8_0 kept quantized: {ratio:.3f} of the float32 weights' bytes")
    assert ratio < 0.6

    expanded = _expanded(get_family("flux_dev").load_denoiser_file(path, "float32").denoiser)
    torch.manual_seed(0)
    config = source.config
    tokens, text = 16, 5
    inputs = {"hidden_states": torch.randn(1, tokens, config.in_channels),
              "encoder_hidden_states": torch.randn(1, text, config.joint_attention_dim),
              "pooled_projections": torch.randn(1, config.pooled_projection_dim),
              "timestep": torch.tensor([0.5]), "guidance": torch.tensor([3.5]),
              "img_ids": torch.zeros(tokens, 3), "txt_ids": torch.zeros(text, 3)}
    with torch.no_grad():
        diff = (model(**inputs).sample - expanded(**inputs).sample).abs().max().item()
    assert diff <= 1e-5


def test_a_lora_patches_a_quantized_layer_with_its_expanded_weight(tmp_path):
    from pipelines.families import get_family
    from pipelines.loading.gguf_model import is_quantized, plain_weight
    from pipelines.loading.lora import apply_lora
    from pipelines.loading.sd3_convert import transformer_to_original
    from pipelines.testing.tiny_sd3 import build_transformer

    source = build_transformer("sd35", seed=4)
    original = transformer_to_original(
        {k: v.detach().clone() for k, v in source.state_dict().items()}, prefix="")
    path = write_gguf(original, tmp_path / "sd3-Q8_0.gguf", quantize=True)
    model = get_family("sd3").load_denoiser_file(path, "float32")
    name = "transformer_blocks.0.attn.to_q"
    layer = model.denoiser.get_submodule(name)
    base = plain_weight(layer).clone()
    torch.manual_seed(1)
    down, up = torch.randn(4, base.shape[1]) * 0.1, torch.randn(base.shape[0], 4) * 0.1
    lora = {f"transformer.{name}.lora_A.weight": down, f"transformer.{name}.lora_B.weight": up}
    patched, _ = apply_lora(model, None, lora, strength_model=0.5, source="tiny LoRA")
    new = patched.denoiser.get_submodule(name)
    assert torch.allclose(new.weight, base + 0.5 * up @ down, atol=1e-6)
    assert is_quantized(layer.weight) and torch.equal(plain_weight(layer), base)  # base kept
    x = torch.randn(2, base.shape[1])
    with torch.no_grad():
        assert torch.allclose(new(x), torch.nn.functional.linear(x, new.weight, layer.bias))


def test_fused_qkv_leaves_a_quantized_model_alone(tmp_path):
    from pipelines.families import get_family
    from pipelines.loading.flux_convert import diffusers_to_bfl
    from pipelines.speed.fused_qkv import fused_copy
    from pipelines.testing.tiny_flux import build_transformer

    source = build_transformer(guidance=True, seed=3)
    bfl = diffusers_to_bfl({k: v.detach().clone() for k, v in source.state_dict().items()})
    path = write_gguf(bfl, tmp_path / "flux1-dev-Q8_0.gguf", quantize=True)
    model = get_family("flux_dev").load_denoiser_file(path, "float32").denoiser
    assert fused_copy(model) is None
    assert fused_copy(source) is not None
