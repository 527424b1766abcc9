"""How often the control networks run: a regional run (combined conditioning) prepares each
entry's control and not also the main pass's. Counted with forward hooks on real tiny
networks; the images stay the same."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from pipelines.sampling import conditioning_ops as ops
from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.values import Latent, Noise

SIZE = 32


@contextmanager
def counting(*modules: torch.nn.Module):
    """Yields a list whose entries count each module's forward calls."""
    counts = [0] * len(modules)

    def hook(index: int):
        def count(*_args) -> None:
            counts[index] += 1
        return count

    handles = [m.register_forward_pre_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module")
def net(tiny_dir, tmp_path_factory):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return load_controlnet(build_tiny_controlnet(tiny_dir, tmp_path_factory.mktemp("cn") / "cn"))


def _hint(seed: int = 1, size: int = SIZE) -> torch.Tensor:
    return torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_a_regional_run_runs_the_controlnet_per_entry_only(tiny, prompts, net):
    model = tiny[0]
    positive, negative = prompts
    combined = apply_control(ops.combine(positive, positive), negative, net, _hint(), 0.8)
    alone = apply_control(positive, negative, net, _hint(), 0.8)
    empty = Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2))
    with counting(net.network) as calls:
        regional = denoise(model, *combined, empty, Noise(9), steps=3, cfg=6.0).samples
    assert calls == [3 * 3]  # 3 steps x (2 positive entries + 1 negative), no main pass
    plain = denoise(model, *alone, empty, Noise(9), steps=3, cfg=6.0).samples
    assert torch.allclose(regional, plain, rtol=1e-4, atol=1e-4)


def test_a_regional_run_computes_t2i_adapter_features_per_entry_only(tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_sd_for_adapter, build_tiny_t2i_adapter
    from pipelines.text.conditioning import encode_text

    root = tmp_path_factory.mktemp("t2i")
    model, clip, _ = load_checkpoint(build_tiny_sd_for_adapter(root / "sd"))
    adapter = load_controlnet(build_tiny_t2i_adapter(root / "adapter"))
    positive, negative = encode_text(clip, "a red circle"), encode_text(clip, "")
    size = 64
    latent = Latent(torch.zeros(1, 4, size // model.vae_scale_factor,
                                size // model.vae_scale_factor))

    def run(pos, neg):
        with counting(adapter.network) as calls:
            out = denoise(model, pos, neg, latent, Noise(3), steps=2, cfg=1.0).samples
        return out, calls[0]

    alone, alone_calls = run(*apply_control(positive, negative, adapter, _hint(2, size)))
    assert alone_calls == 1  # features once per run
    combined, calls = run(*apply_control(ops.combine(positive, positive), negative, adapter,
                                         _hint(2, size)))
    assert calls == 2  # once per positive entry (cfg 1: no negative), not a third time
    assert torch.equal(combined, alone)
