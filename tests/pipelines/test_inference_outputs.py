"""VAE encode/decode and every prompt encoder run their networks under inference mode (as
the denoise loop does), yet hand back ordinary tensors: later nodes change latents, images
and conditionings in place or use them where autograd records. The numbers are those of
``no_grad``."""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.vae import decode, encode
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent


def _usable(tensor: torch.Tensor) -> None:
    """Fails on an inference tensor: autograd may save it and it may change in place."""
    assert not tensor.is_inference()
    weight = torch.ones((), requires_grad=True)
    (tensor.float() * weight).sum().backward()  # "Inference tensors cannot be saved..."
    tensor.add_(0)  # "Inplace update to inference tensor outside InferenceMode..."


def _as_with_no_grad(monkeypatch, run):
    """``run()`` again with ``torch.inference_mode`` standing for ``torch.no_grad``."""
    with monkeypatch.context() as patch:
        patch.setattr(torch, "inference_mode", torch.no_grad)
        return run()


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Latent):
        return [value.samples]
    return [value.embeds, *(v for v in value.extras.values() if isinstance(v, torch.Tensor))]


def _check(monkeypatch, run) -> None:
    modes: list[bool] = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda *_: modes.append(torch.is_inference_mode_enabled()))
    try:
        ours = _tensors(run())
    finally:
        hook.remove()
    assert modes and all(modes)  # every network call ran in inference mode
    plain = _tensors(_as_with_no_grad(monkeypatch, run))
    assert len(ours) == len(plain)
    for a, b in zip(ours, plain, strict=True):
        assert torch.equal(a, b)  # unchanged numbers
        _usable(a)


def test_vae_decode_and_encode_give_ordinary_tensors(tiny, monkeypatch):
    _, _, vae = tiny
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(1))
    _check(monkeypatch, lambda: decode(vae, Latent(z)))
    _check(monkeypatch, lambda: encode(vae, image))
    _check(monkeypatch, lambda: encode(vae, image, scaled=False))  # .cpu() returns itself


@pytest.mark.parametrize("prompt", ["a red cube", "a (red:1.3) cube", " ".join(["cube"] * 90)])
def test_sd_prompts_are_ordinary_tensors(tiny, monkeypatch, prompt):
    _, clip, _ = tiny
    _check(monkeypatch, lambda: encode_text(clip, prompt))


def _flux(root):
    from pipelines.testing.tiny_flux import build_tiny_flux

    return build_tiny_flux(root / "flux")


def _if(root):
    from pipelines.testing.tiny_if import build_tiny_if

    return build_tiny_if(root / "if", stage=1)


def _sd3(root):
    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

    return build_tiny_sd3_folder(root / "sd3")


def _latent_x2(root):
    from pipelines.testing.tiny_upscale import build_tiny_upscaler

    return build_tiny_upscaler(root / "x2", kind="latent_x2")


@pytest.mark.parametrize("build", [_flux, _if, _sd3, _latent_x2],
                         ids=["flux", "t5", "sd3", "hidden_pooled"])
@pytest.mark.parametrize("prompt", ["a red cube", "a (red:1.3) cube"])
def test_other_prompt_encoders_give_ordinary_tensors(tmp_path, monkeypatch, build, prompt):
    _, clip, _ = load_checkpoint(build(tmp_path))
    _check(monkeypatch, lambda: encode_text(clip, prompt))
