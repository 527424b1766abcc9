"""LyCORIS files (LoHa, LoKr, full diffs) patch the same weights as the LoRA they are equal to.

Each case builds a LyCORIS layer whose factorisation reduces to a known plain LoRA (a Hadamard
factor of all ones, a 1x1 Kronecker factor, the LoRA's delta written out as a ``diff``), so the
patched network must match the one the plain LoRA gives, on linear and 3x3 conv layers.
"""

from __future__ import annotations

import logging

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.lora import apply_lora
from pipelines.testing.tiny_families import build_family

RANK, ALPHA = 2, 1.0


@pytest.fixture(scope="module")
def sd1(tmp_path_factory):
    return load_checkpoint(build_family("sd1", tmp_path_factory.mktemp("lycoris")).folder)


def _layers(unet) -> dict[str, torch.nn.Module]:
    """One attention projection (linear) and one resnet conv (3x3) of the UNet."""
    modules = dict(unet.named_modules())
    linear = next(n for n in modules if n.endswith("attn1.to_q"))
    conv = next(n for n, m in modules.items()
                if n.endswith("conv1") and isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    return {linear: modules[linear], conv: modules[conv]}


def _lora_factors(weight: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    down = torch.randn((RANK, *weight.shape[1:]), generator=generator) * 0.3
    up = torch.randn((weight.shape[0], RANK, *[1] * (weight.dim() - 2)), generator=generator) * 0.3
    return down, up


def _files(unet, kind: str) -> tuple[dict, dict]:
    """(plain LoRA, the equal LyCORIS file of ``kind``) on the two layers."""
    lora, lycoris = {}, {}
    for seed, (name, module) in enumerate(_layers(unet).items()):
        base = "lora_unet_" + name.replace(".", "_")
        down, up = _lora_factors(module.weight, seed)
        alpha = torch.tensor(ALPHA)
        lora |= {f"{base}.lora_down.weight": down, f"{base}.lora_up.weight": up,
                 f"{base}.alpha": alpha}
        a, b = up.flatten(1), down.flatten(1)  # [out, r], [r, in * k * k]
        if kind == "loha":
            lycoris |= {f"{base}.hada_w1_a": a, f"{base}.hada_w1_b": b,
                        f"{base}.hada_w2_a": torch.ones(a.shape[0], 1),
                        f"{base}.hada_w2_b": torch.ones(1, b.shape[1]), f"{base}.alpha": alpha}
        elif kind == "lokr":
            w2_b = b if module.weight.dim() == 2 else down
            lycoris |= {f"{base}.lokr_w1": torch.ones(1, 1), f"{base}.lokr_w2_a": a,
                        f"{base}.lokr_w2_b": w2_b.flatten(1), f"{base}.alpha": alpha}
        else:  # diff: the LoRA's delta, written out
            delta = (a @ b).reshape(module.weight.shape) * (ALPHA / RANK)
            lycoris[f"{base}.diff"] = delta
    return lora, lycoris


@pytest.mark.parametrize("kind", ["loha", "lokr", "diff"])
def test_lycoris_equals_its_plain_lora(sd1, kind):
    model, clip, _ = sd1
    lora, lycoris = _files(model.denoiser, kind)
    expected, _ = apply_lora(model, clip, lora)
    patched, _ = apply_lora(model, clip, lycoris)
    base_layers = _layers(model.denoiser)
    for name, module in _layers(patched.denoiser).items():
        want = _layers(expected.denoiser)[name].weight
        assert not torch.equal(module.weight, base_layers[name].weight)
        torch.testing.assert_close(module.weight, want, rtol=0, atol=1e-6)


def test_lokr_kronecker_factor_scales_blocks(sd1):
    """A 2x2 Kronecker factor tiles the small factor's delta into four scaled blocks."""
    model, clip, _ = sd1
    name, module = next(iter(_layers(model.denoiser).items()))
    out_features, in_features = module.weight.shape
    w2 = torch.randn(out_features // 2, in_features // 2, generator=torch.Generator().manual_seed(5))
    w1 = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    base = "lora_unet_" + name.replace(".", "_")
    patched, _ = apply_lora(model, clip, {f"{base}.lokr_w1": w1, f"{base}.lokr_w2": w2})
    delta = _layers(patched.denoiser)[name].weight - module.weight
    h, w = w2.shape
    torch.testing.assert_close(delta[:h, :w], w2, rtol=0, atol=1e-5)
    torch.testing.assert_close(delta[h:, w:], -2 * w2, rtol=0, atol=1e-5)
    assert delta[:h, w:].abs().max() < 1e-6 and delta[h:, :w].abs().max() < 1e-6


def test_dora_layers_are_skipped_with_a_warning(sd1, caplog):
    model, clip, _ = sd1
    lora, _ = _files(model.denoiser, "diff")
    first = next(k for k in lora if k.endswith(".alpha")).removesuffix(".alpha")
    lora[f"{first}.dora_scale"] = torch.ones(4)
    with caplog.at_level(logging.WARNING):
        patched, _ = apply_lora(model, clip, lora, source="dora.safetensors")
    assert "DoRA" in caplog.text
    layers, base = _layers(patched.denoiser), _layers(model.denoiser)
    changed = [n for n in layers if not torch.equal(layers[n].weight, base[n].weight)]
    assert len(changed) == 1  # the other layer still applies


def test_loha_tucker_core_on_a_conv_equals_its_lora(sd1):
    """LoHa's Tucker form (core [r, r, k, k], a [r, out], b [r, in]) reproduces a conv LoRA."""
    model, clip, _ = sd1
    name, module = list(_layers(model.denoiser).items())[1]
    out_channels, in_channels = module.weight.shape[:2]
    down, up = _lora_factors(module.weight, seed=9)  # [R, in, 3, 3], [out, R, 1, 1]
    base = "lora_unet_" + name.replace(".", "_")
    core = torch.zeros(in_channels, in_channels, 3, 3)
    core[:RANK] = down  # b = identity, so the core's rows are the LoRA's down kernels
    a = torch.zeros(in_channels, out_channels)
    a[:RANK] = up.flatten(1).T
    loha = {f"{base}.hada_t1": core, f"{base}.hada_w1_a": a,
            f"{base}.hada_w1_b": torch.eye(in_channels),
            f"{base}.hada_w2_a": torch.ones(out_channels, 1),
            f"{base}.hada_w2_b": torch.ones(1, in_channels * 9)}
    lora = {f"{base}.lora_down.weight": down, f"{base}.lora_up.weight": up}
    expected, _ = apply_lora(model, clip, lora)
    patched, _ = apply_lora(model, clip, loha)
    torch.testing.assert_close(_layers(patched.denoiser)[name].weight,
                               _layers(expected.denoiser)[name].weight, rtol=0, atol=1e-5)


def test_lokr_tucker_core_on_a_conv_tiles_its_blocks(sd1):
    """LoKr's Tucker form of w2 (lokr_t2, a [r, out], b [r, in]) under a 2x2 w1 = diag(1, -2):
    the delta is w2 in the top-left block, -2 w2 in the bottom-right, zero elsewhere."""
    model, clip, _ = sd1
    name, module = list(_layers(model.denoiser).items())[1]
    out_half, in_half = module.weight.shape[0] // 2, module.weight.shape[1] // 2
    down = torch.randn(RANK, in_half, 3, 3, generator=torch.Generator().manual_seed(11)) * 0.3
    up = torch.randn(out_half, RANK, generator=torch.Generator().manual_seed(12)) * 0.3
    w2 = (up @ down.flatten(1)).reshape(out_half, in_half, 3, 3)  # the conv LoRA it stands for
    core = torch.zeros(in_half, in_half, 3, 3)
    core[:RANK] = down  # with b = identity the core's rows are the down kernels
    a = torch.zeros(in_half, out_half)
    a[:RANK] = up.T
    base = "lora_unet_" + name.replace(".", "_")
    lokr = {f"{base}.lokr_w1": torch.tensor([[1.0, 0.0], [0.0, -2.0]]),
            f"{base}.lokr_t2": core, f"{base}.lokr_w2_a": a,
            f"{base}.lokr_w2_b": torch.eye(in_half)}
    patched, _ = apply_lora(model, clip, lokr)
    delta = _layers(patched.denoiser)[name].weight - module.weight
    torch.testing.assert_close(delta[:out_half, :in_half], w2, rtol=0, atol=1e-5)
    torch.testing.assert_close(delta[out_half:, in_half:], -2 * w2, rtol=0, atol=1e-5)
    assert delta[:out_half, in_half:].abs().max() < 1e-6
