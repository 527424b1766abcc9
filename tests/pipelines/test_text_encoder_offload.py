"""T5 text encoders leave the GPU after encoding even in normal VRAM mode: the placement
policy (tested without CUDA: the decisions, not the copies)."""

from __future__ import annotations

import pytest
import torch

from pipelines.memory.placement import (
    STORAGE_ATTR,
    home_of,
    offloads_after_use,
    place_text_encoders,
)


@pytest.fixture(scope="module")
def if_clip(tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny_if import build_tiny_if

    folder = build_tiny_if(tmp_path_factory.mktemp("if") / "IF-I", stage=1)
    return folder, load_checkpoint(folder)[1]


class _CacheSaysGpu:
    """A cache whose entry for every network is stored on the GPU (normal VRAM mode)."""

    def storage_of(self, network: torch.nn.Module) -> torch.device:
        return torch.device("cuda")


def test_t5_is_offloaded_on_cuda_in_normal_and_auto_mode_only(if_clip):
    from pipelines.testing.tiny import _text_encoder

    t5 = if_clip[1].text_encoder
    assert type(t5).__name__ == "T5EncoderModel"
    assert offloads_after_use(t5, "cuda", "normal") and offloads_after_use(t5, "cuda:0", "auto")
    assert not offloads_after_use(t5, "cuda", "low")  # low keeps everything on the CPU anyway
    assert not offloads_after_use(t5, "cpu", "normal")
    assert not offloads_after_use(t5, "mps", "normal")
    assert not offloads_after_use(_text_encoder(600), "cuda", "normal")  # CLIP stays


def test_a_placed_t5_goes_back_to_the_cpu_though_its_model_is_stored_on_the_gpu(if_clip):
    from pipelines.testing.tiny import _text_encoder

    _, clip = if_clip
    cache = _CacheSaysGpu()
    assert home_of(clip.text_encoder, cache) == torch.device("cuda")  # before: stays on GPU
    place_text_encoders(clip, "cuda", "normal")
    try:
        assert home_of(clip.text_encoder, cache) == torch.device("cpu")
        assert next(clip.text_encoder.parameters()).device.type == "cpu"
        clip_l = _text_encoder(600)
        assert home_of(clip_l, cache) == torch.device("cuda")
    finally:
        delattr(clip.text_encoder, STORAGE_ATTR)


def test_cpu_runs_mark_nothing(if_clip):
    from pipelines.loading.cached import load_checkpoint_cached
    from pipelines.memory.cache import ModelCache

    folder, _ = if_clip
    _, clip, _ = load_checkpoint_cached(folder, device="cpu", vram_mode="normal",
                                        cache=ModelCache())
    assert not hasattr(clip.text_encoder, STORAGE_ATTR)
