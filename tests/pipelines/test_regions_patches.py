"""Control hints and IP-Adapter keep working when the conditioning goes the regional way
(combined entries): a conditioning combined with itself samples as it alone, with a ControlNet
on both sides (and on one), a T2I-Adapter, and an IP-Adapter patch on the model."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling import conditioning_ops as ops
from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.values import Latent, Noise

SIZE = 32


def _run(model, positive, negative, cfg):
    empty = Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2))
    return denoise(model, positive, negative, empty, Noise(9), steps=3, cfg=cfg).samples


def _same(a, b, cfg):
    if cfg == 1.0:  # one call of the same batch either way: the same arithmetic
        assert torch.equal(a, b)
    else:  # [uncond, cond] in one call against two calls: float noise only
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def net(tiny_dir, tmp_path_factory):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return load_controlnet(build_tiny_controlnet(tiny_dir, tmp_path_factory.mktemp("cn") / "cn"))


@pytest.mark.parametrize("cfg", [1.0, 6.0])
def test_controlnet_on_a_combined_conditioning(tiny, prompts, net, cfg):
    model = tiny[0]
    positive, negative = prompts
    hint = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(1))
    alone = _run(model, *apply_control(positive, negative, net, hint, 0.8, 0.0, 0.7), cfg)
    combined = apply_control(ops.combine(positive, positive), negative, net, hint, 0.8, 0.0, 0.7)
    _same(_run(model, *combined, cfg), alone, cfg)
    plain = _run(model, positive, negative, cfg)
    assert (alone - plain).abs().max() > 1e-3  # the hint steers
    one_side, _ = apply_control(ops.combine(positive, positive), None, net, hint)
    alone_one, _ = apply_control(positive, None, net, hint)
    _same(_run(model, one_side, negative, cfg), _run(model, alone_one, negative, cfg), cfg)


def test_t2i_adapter_on_a_combined_conditioning(tmp_path_factory, prompts):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_sd_for_adapter, build_tiny_t2i_adapter
    from pipelines.text.conditioning import encode_text

    root = tmp_path_factory.mktemp("t2i")
    model, clip, _ = load_checkpoint(build_tiny_sd_for_adapter(root / "sd"))
    adapter = load_controlnet(build_tiny_t2i_adapter(root / "adapter"))
    positive, negative = encode_text(clip, "a red circle"), encode_text(clip, "")
    size = 64
    hint = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(2))
    latent = Latent(torch.zeros(1, 4, size // model.vae_scale_factor,
                                size // model.vae_scale_factor))

    def run(pos, neg):
        return denoise(model, pos, neg, latent, Noise(3), steps=2, cfg=1.0).samples

    alone = run(*apply_control(positive, negative, adapter, hint))
    assert torch.equal(run(*apply_control(ops.combine(positive, positive), negative, adapter,
                                          hint)), alone)


@pytest.mark.parametrize("cfg", [1.0, 6.0])
def test_ip_adapter_on_a_combined_conditioning(tiny, prompts, tmp_path_factory, cfg):
    from transformers import CLIPVisionConfig

    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.loading.ip_adapter import load_ip_adapter
    from pipelines.sampling.ip_adapter import (
        apply_ip_adapter,
        encode_for_adapter,
        with_adapter_use,
    )
    from pipelines.testing.tiny_ip_adapter import (
        build_tiny_clip_vision,
        ip_adapter_state,
        save_ip_adapter,
    )

    model = tiny[0]
    positive, negative = prompts
    root = tmp_path_factory.mktemp("ip")
    vision_dir = build_tiny_clip_vision(root / "vision")
    state = ip_adapter_state(model.denoiser, CLIPVisionConfig.from_pretrained(vision_dir),
                             "plain", 0)
    weights = load_ip_adapter(save_ip_adapter(state, root / "ip.safetensors"))
    image = torch.rand(1, 40, 36, 3, generator=torch.Generator().manual_seed(4))
    embeds = encode_for_adapter(load_clip_vision(vision_dir), weights, image)
    patched = apply_ip_adapter(model, with_adapter_use(weights, embeds, 0.8, 0.0, 1.0))
    alone = _run(patched, positive, negative, cfg)
    _same(_run(patched, ops.combine(positive, positive), negative, cfg), alone, cfg)
    assert (alone - _run(model, positive, negative, cfg)).abs().max() > 1e-3


def test_image_conditioned_stage_with_a_combined_conditioning(tmp_path_factory):
    """DeepFloyd IF stage II (low-resolution image as channels, its noise level as class
    label, learned variance): combined with itself samples as the conditioning alone."""
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.superres import super_resolve
    from pipelines.testing.tiny_if import build_tiny_if
    from pipelines.text.conditioning import encode_text

    root = tmp_path_factory.mktemp("if")
    _, clip, _ = load_checkpoint(build_tiny_if(root / "IF-I", stage=1))
    model, _, _ = load_checkpoint(build_tiny_if(root / "IF-II", stage=2))
    pos, neg = encode_text(clip, "a red cat"), encode_text(clip, "")
    low = torch.rand(1, 12, 12, 3, generator=torch.Generator().manual_seed(1))
    for cfg in (1.0, 4.0):
        alone = super_resolve(model, pos, neg, low, Noise(5), scale=2.0, steps=2, cfg=cfg)
        combined = super_resolve(model, ops.combine(pos, pos), neg, low, Noise(5), scale=2.0,
                                 steps=2, cfg=cfg)
        _same(combined.samples, alone.samples, cfg)


def test_the_latent_upscaler_refuses_what_its_own_loop_cannot_read(tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.latent_upscale import upscale_latent_x2
    from pipelines.testing.tiny_upscale import build_tiny_upscaler
    from pipelines.text.conditioning import encode_text

    folder = build_tiny_upscaler(tmp_path_factory.mktemp("x2") / "x2", kind="latent_x2")
    model, clip, _ = load_checkpoint(folder)
    pos, neg = encode_text(clip, "a red circle"), encode_text(clip, "")
    low = Latent(samples=torch.zeros(1, 4, 8, 8), space="sd1")
    for cond in (ops.combine(pos, pos), ops.set_area_percentage(pos, 0.5, 0.5, 0, 0, 1.0)):
        with pytest.raises(ValueError, match="one plain prompt"):
            upscale_latent_x2(model, cond, neg, low, Noise(1), steps=1, cfg=2.0)
    assert upscale_latent_x2(model, pos, neg, low, Noise(1), steps=1, cfg=2.0).samples.shape[-1] \
        == 16
