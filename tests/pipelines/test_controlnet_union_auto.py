"""ControlNet-Union with type "auto" (no type set), as ComfyUI runs it: the all-zero control
type embedding, the hint through the hint encoder alone added after the first convolution.

Reference: diffusers' own ``ControlNetUnionModel.forward`` on a copy of the net whose fusion
is made inert (``spatial_ch_projs`` zeroed: the fused hint is then the encoded hint itself),
given an all-zero ``control_type``; with the real net, "auto" is a run of its own (not any
typed run) that steers the image."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from pipelines.sampling.control import apply_control
from pipelines.sampling.control_call import controlnet_residuals
from tests.pipelines import test_controlnet_modes as modes
from tests.pipelines.test_controlnet import PROMPT, hint_image, run_ours

union_dir = modes.union_dir  # the union parity tests' fixture


@pytest.fixture(scope="module")
def union(union_dir):
    from pipelines.loading.controlnet import load_controlnet

    return load_controlnet(union_dir)


def _inputs(net, batch=2):
    g = torch.Generator().manual_seed(4)
    time_dim = 6 * net.config.addition_time_embed_dim
    text_dim = net.config.projection_class_embeddings_input_dim - time_dim
    added = {"text_embeds": torch.randn(batch, text_dim, generator=g),
             "time_ids": torch.tensor([[32.0, 32.0, 0.0, 0.0, 32.0, 32.0]] * batch)}
    sample = torch.randn(batch, 4, 16, 16, generator=g)
    states = torch.randn(batch, 7, net.config.cross_attention_dim, generator=g)
    pixels = torch.rand(batch, 3, 32, 32, generator=g)
    return sample, states, pixels, added


def test_auto_residuals_are_comfyuis_plain_hint_path(union):
    inert = copy.deepcopy(union.network)
    torch.nn.init.zeros_(inert.spatial_ch_projs.weight)
    torch.nn.init.zeros_(inert.spatial_ch_projs.bias)
    sample, states, pixels, added = _inputs(inert)
    t = torch.tensor(500)
    auto = dataclasses.replace(union, network=inert, union_type=None)
    with torch.no_grad():
        down, mid = controlnet_residuals(auto, sample, t, states, pixels, 0.7, False, added)
        ref_down, ref_mid = inert(
            sample, t, encoder_hidden_states=states, controlnet_cond=[pixels],
            control_type=torch.zeros(2, inert.config.num_control_type), control_type_idx=[0],
            conditioning_scale=[0.7], from_multi=True, added_cond_kwargs=added,
            return_dict=False)
        typed = controlnet_residuals(dataclasses.replace(auto, union_type=0), sample, t,
                                     states, pixels, 0.7, False, added)
    assert len(down) == len(ref_down)
    assert max((a - b).abs().max().item() for a, b in zip(down, ref_down, strict=True)) <= 1e-5
    assert (mid - ref_mid).abs().max().item() <= 1e-5
    assert (typed[1] - mid).abs().max().item() > 1e-4  # the type embedding matters
    # the hook is gone afterwards: a typed call is unaffected by an earlier auto one
    assert inert.conv_in._forward_hooks == {}


def test_a_union_net_without_a_type_samples_as_auto(tiny_sdxl, union):
    from pipelines.text.conditioning import encode_text

    model, clip, _ = tiny_sdxl
    positive, negative = encode_text(clip, PROMPT), encode_text(clip, "")
    hint = hint_image(8)
    auto = run_ours(model, *apply_control(positive, negative, union, hint, 0.9), cfg=5.0)
    plain = run_ours(model, positive, negative, cfg=5.0)
    assert (auto - plain).abs().max().item() > 1e-3  # the hint steers
    for kind in range(union.network.config.num_control_type):
        typed = dataclasses.replace(union, union_type=kind)
        ours = run_ours(model, *apply_control(positive, negative, typed, hint, 0.9), cfg=5.0)
        assert (ours - auto).abs().max().item() > 1e-5  # auto is none of the typed runs
