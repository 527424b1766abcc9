"""Fused QKV projections in compile/max: the image stays within tolerance of eager, the
shared cached denoiser is never changed (so "off" stays exact and LoRA copies keep their
patches), and the fused weights follow the shared ones when the cache moves them.

torch.compile is replaced by the identity here (inductor takes minutes on this CPU; the
compiled path is tested in test_accelerate.py with STUDIO_SLOW_TESTS=1)."""

from __future__ import annotations

import torch

from pipelines.loading.lora import apply_lora
from pipelines.sampling.denoise import denoise
from pipelines.speed import accelerate
from pipelines.speed.fused_qkv import fused_copy, refresh
from pipelines.values import Latent, Noise
from tests.pipelines.test_lora import make_lora


def _sample(model, prompts):
    positive, negative = prompts
    return denoise(model, positive, negative, Latent(torch.zeros(1, 4, 8, 8)), Noise(3),
                   steps=3, cfg=7.5).samples


def _processors(net):
    return {name: type(p).__name__ for name, p in net.attn_processors.items()}


def test_fused_copy_shares_weights_and_matches(tiny, prompts, no_inductor):
    model, _, _ = tiny
    unet = model.denoiser
    before = _processors(unet)
    eager = _sample(model, prompts)
    fast = accelerate.accelerated(model, "compile", torch.device("cpu"))
    fused = fast.denoiser.copy
    assert fused is not None and fused is not unet
    assert set(_processors(fused).values()) == {"FusedAttnProcessor2_0"}
    assert _processors(unet) == before  # the cached denoiser is untouched
    assert not any(hasattr(m, "to_qkv") or hasattr(m, "to_kv") for m in unet.modules())
    assert fused.conv_in.weight is unet.conv_in.weight  # shared, not copied
    fused_image = _sample(fast, prompts)
    assert (fused_image - eager).abs().max().item() < 1e-4
    # "off" after "compile": the very model, bit-identical to before
    off = accelerate.accelerated(model, "off", torch.device("cpu"))
    assert off is model and torch.equal(_sample(off, prompts), eager)


def test_a_lora_copy_is_not_served_the_base_compiled_module(tiny, prompts, no_inductor):
    model, clip, _ = tiny
    base_fast = accelerate.accelerated(model, "compile", torch.device("cpu"))
    lora_model, _ = apply_lora(model, clip, make_lora(model, clip, "kohya"), 1.0, 0.0)
    lora_fast = accelerate.accelerated(lora_model, "compile", torch.device("cpu"))
    assert lora_fast.denoiser is not base_fast.denoiser
    eager_lora = _sample(lora_model, prompts)
    assert (_sample(lora_fast, prompts) - eager_lora).abs().max().item() < 1e-4
    assert (_sample(base_fast, prompts) - eager_lora).abs().max().item() > 1e-3


def test_fused_weights_follow_a_move_of_the_shared_ones(tiny_dir):
    from pipelines.loading.checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(tiny_dir)  # a private copy: this test moves it
    unet = model.denoiser
    fused = fused_copy(unet)
    assert not refresh(fused)  # nothing moved: nothing rebuilt
    unet.to(torch.float64)
    assert refresh(fused)
    layers = [m.to_qkv for m in fused.modules() if hasattr(m, "to_qkv")]
    assert layers and all(layer.weight.dtype == torch.float64 for layer in layers)
    x = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    context = torch.randn(1, 77, unet.config.cross_attention_dim, dtype=torch.float64)
    expected = unet(x, 10, encoder_hidden_states=context).sample
    got = fused(x, 10, encoder_hidden_states=context).sample
    assert (got - expected).abs().max().item() < 1e-9
