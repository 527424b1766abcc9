"""Model merging (ComfyUI's ModelMerge*/CLIPMerge* arithmetic) on two tiny SD models of one
family: every weight is the stated combination, blocks take their own ratio by original
layer name, the inputs are untouched, and other families are refused."""

from __future__ import annotations

import pytest
import torch

from pipelines.errors import StudioError


@pytest.fixture(scope="module")
def pair(tiny, tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny import build_tiny_sd

    other = build_tiny_sd(tmp_path_factory.mktemp("merge") / "tiny-sd-7", seed=7)
    return tiny, load_checkpoint(other)


def _params(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters()}


@pytest.mark.parametrize(("mode", "ratio", "a", "b"), [
    ("weighted", 0.3, 0.3, 0.7), ("add", 0.0, 1.0, 1.0), ("subtract", 0.5, 0.5, -0.5)])
def test_each_weight_is_the_combination_and_the_inputs_stay(pair, mode, ratio, a, b):
    from nodes.model_merge import merge_models

    (first, _, _), (second, _, _) = pair
    w1, w2 = _params(first.denoiser), _params(second.denoiser)
    merged = merge_models(None, first, second, mode, ratio)  # type: ignore[arg-type]
    out = _params(merged.denoiser)
    assert sorted(out) == sorted(w1)
    for name, value in out.items():
        assert torch.allclose(value, a * w1[name] + b * w2[name], atol=1e-6), name
    assert all(torch.equal(v, w1[k]) for k, v in _params(first.denoiser).items())
    assert all(torch.equal(v, w2[k]) for k, v in _params(second.denoiser).items())
    assert merged.family == first.family and merged.denoiser is not first.denoiser


def test_blocks_take_their_ratio_by_original_name(pair):
    from nodes.model_merge import merge_blocks
    from pipelines.model_merge import unet_block_names

    (first, _, _), (second, _, _) = pair
    w1, w2 = _params(first.denoiser), _params(second.denoiser)
    names = unet_block_names(first.denoiser)
    merged = merge_blocks(None, first, second, 0.2, 0.5, 0.9,  # type: ignore[arg-type]
                          "input_blocks.1.=0.25, time_embed.=1")
    out = _params(merged.denoiser)
    seen = set()
    for name, value in out.items():
        original = names[name]
        expected = (0.25 if original.startswith("input_blocks.1.") else
                    1.0 if original.startswith("time_embed.") else
                    0.2 if original.startswith("input") else
                    0.5 if original.startswith("middle") else
                    0.9 if original.startswith("out") else 0.2)
        seen.add(expected)
        assert torch.allclose(value, expected * w1[name] + (1 - expected) * w2[name],
                              atol=1e-6), (name, original)
    assert seen >= {0.25, 1.0, 0.2, 0.5, 0.9}  # every rule met a layer
    assert names["conv_out.weight"] == "out.2.weight"


def test_text_encoders_merge_per_slot_and_keep_buffers(pair):
    from nodes.model_merge import merge_text_encoders

    (_, clip1, _), (_, clip2, _) = pair
    w1, w2 = _params(clip1.text_encoder), _params(clip2.text_encoder)
    merged = merge_text_encoders(None, clip1, clip2, "weighted", 0.6)  # type: ignore[arg-type]
    for name, value in _params(merged.text_encoder).items():
        assert torch.allclose(value, 0.6 * w1[name] + 0.4 * w2[name], atol=1e-6)
    buffers = dict(merged.text_encoder.named_buffers())
    for name, value in clip1.text_encoder.named_buffers():
        assert buffers[name] is value  # position ids: the first model's
    assert merged.tokenizer is clip1.tokenizer


def test_other_families_and_bad_block_text_are_one_clear_line(pair, tmp_path):
    import dataclasses

    from nodes.model_merge import merge_blocks, merge_models

    (first, _, _), (second, _, _) = pair
    with pytest.raises(StudioError, match="different families"):
        merge_models(None, first, dataclasses.replace(second, family="sdxl"),  # type: ignore[arg-type]
                     "weighted", 0.5)
    with pytest.raises(StudioError, match="not name=number"):
        merge_blocks(None, first, second, 1, 1, 1, "input_blocks.1")  # type: ignore[arg-type]
    with pytest.raises(StudioError, match="unknown merge mode"):
        merge_models(None, first, second, "average", 0.5)  # type: ignore[arg-type]
