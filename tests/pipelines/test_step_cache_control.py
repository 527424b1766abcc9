"""The Step Cache and ControlNets: a step the cache reuses runs no ControlNet either (the
control runner sits inside the cache's wrapper). Counted with forward hooks on real tiny
networks."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.control import apply_control
from pipelines.sampling.denoise import denoise
from pipelines.sampling.step_cache import with_step_cache
from pipelines.values import Latent, Noise
from tests.pipelines.test_control_calls import SIZE, _hint, counting


@pytest.fixture(scope="module")
def net(tiny_dir, tmp_path_factory):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return load_controlnet(build_tiny_controlnet(tiny_dir, tmp_path_factory.mktemp("cn") / "cn"))


def test_the_step_cache_runs_no_controlnet_on_reused_steps(tiny, prompts, net):
    model = tiny[0]
    positive, negative = apply_control(*prompts, net, _hint(), 0.8)
    steps = 12
    empty = Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2))

    def run(m):
        with counting(m.denoiser, net.network) as calls:
            out = denoise(m, positive, negative, empty, Noise(99), steps=steps, cfg=7.5).samples
        return out, calls

    plain, (unet_calls, control_calls) = run(model)
    assert unet_calls == control_calls == steps
    cached_model = with_step_cache(model, 0.5, 0.15, 0.95)
    cached, (unet_calls, control_calls) = run(cached_model)
    computed, skipped = cached_model.patches[-1].last_run[0]
    assert skipped > 0 and unet_calls == computed
    assert control_calls == computed  # not once per step
    assert (cached - plain).abs().mean() < 0.25 * plain.abs().mean()
    # never skipping: the same numbers as without the cache
    idle = with_step_cache(model, 1e-12, 0.0, 0.0)
    assert torch.equal(run(idle)[0], plain)
