"""Step Cache: off samples bit for bit as without it, on really skips denoiser calls and stays
close to the full run, and the model given to the node is never changed."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from node_api.errors import NodeInputError
from nodes.model_sampling import step_cache as step_cache_node
from pipelines.sampling.denoise import denoise
from pipelines.sampling.step_cache import StepCache, with_step_cache
from pipelines.values import Latent, Noise

STEPS = 12


def sample(model, prompts, sampler: str = "euler") -> tuple[torch.Tensor, int]:
    """The latent and how many times the real denoiser ran."""
    positive, negative = prompts
    calls = []
    handle = model.denoiser.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        out = denoise(model, positive, negative, Latent(samples=torch.zeros(1, 4, 16, 16)),
                      Noise(99), sampler=sampler, steps=STEPS, cfg=7.5)
    finally:
        handle.remove()
    return out.samples, len(calls)


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m"])
def test_off_is_bit_identical_and_on_skips_calls(tiny, prompts, sampler):
    model = tiny[0]
    plain, plain_calls = sample(model, prompts, sampler)
    assert plain_calls == STEPS
    # the patch installed but never skipping: the same numbers through the wrapper
    idle = replace(model, patches=(StepCache(threshold=0.0, start=0.0, end=1.0),))
    same, idle_calls = sample(idle, prompts, sampler)
    assert idle_calls == STEPS and torch.equal(same, plain)

    patch_model = with_step_cache(model, 0.5, 0.15, 0.95)
    cached, cached_calls = sample(patch_model, prompts, sampler)
    computed, skipped = patch_model.patches[-1].last_run[0]
    assert cached_calls == computed < STEPS and skipped == STEPS - computed
    # close to the full run, but not the same numbers
    assert not torch.equal(cached, plain)
    assert (cached - plain).abs().mean() < 0.25 * plain.abs().mean()
    assert model.patches == ()  # the loaded model is untouched


def test_window_and_threshold_bound_the_skips(tiny, prompts):
    model = tiny[0]
    # a window of zero width: every step runs, whatever the threshold
    closed = with_step_cache(model, 5.0, 0.5, 0.5)
    _, calls = sample(closed, prompts)
    assert calls == STEPS
    # a huge threshold skips every step the window allows after the first two computed
    wide = with_step_cache(model, 1e9, 0.0, 1.0)
    _, calls = sample(wide, prompts)
    assert calls == 2
    assert with_step_cache(wide, 0.0, 0.0, 1.0).patches == ()  # threshold 0 takes it off


def test_node_refuses_an_end_before_the_start(tiny):
    with pytest.raises(NodeInputError) as err:
        step_cache_node(None, tiny[0], 0.2, 0.6, 0.3)  # type: ignore[arg-type]
    assert err.value.field == "end"
