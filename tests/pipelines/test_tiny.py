"""The tiny checkpoint builder: deterministic, cached, with an offline tokenizer."""

from __future__ import annotations

import pytest
import torch

from pipelines.testing.tiny import build_tiny_sd, build_tokenizer, tiny_sd_path


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "unet" / "diffusion_pytorch_model.safetensors")


def test_same_seed_same_weights_other_seed_other_weights(tiny_dir, tmp_path):
    state = torch.get_rng_state()
    again = build_tiny_sd(tmp_path / "again", seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    other = build_tiny_sd(tmp_path / "other", seed=1)
    a, b, c = _weights(tiny_dir), _weights(again), _weights(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_cached_path_builds_once(tmp_path):
    first = tiny_sd_path(tmp_path)
    stamp = (first / "model_index.json").stat().st_mtime_ns
    assert tiny_sd_path(tmp_path) == first
    assert (first / "model_index.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no scratch folders left


@pytest.mark.parametrize("text", ["a cat", "héllo, wörld!", ""])
def test_tokenizer_is_byte_level_and_round_trips(tmp_path, text):
    tokenizer = build_tokenizer(tmp_path)
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|startoftext|>")
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == text.replace(" ", "")
    padded = tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids
    assert len(padded) == 77
