"""Loading a CLIP vision encoder from a prior folder, its image_encoder/ folder, or a single
Hugging Face-layout .safetensors file (ComfyUI's clip_vision), all giving the same embedding."""

from __future__ import annotations

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.clip_vision import load_clip_vision
from pipelines.sampling.image_embeds import encode_image
from pipelines.testing.tiny_kandinsky import tiny_prior_path


@pytest.fixture(scope="module")
def prior_folder(tmp_path_factory):
    return tiny_prior_path(tmp_path_factory.mktemp("clip-vision"))


def test_every_form_gives_the_same_embedding(prior_folder, tmp_path):
    from safetensors.torch import save_file

    image = torch.rand(1, 40, 48, 3, generator=torch.Generator().manual_seed(0))
    from_prior = load_clip_vision(prior_folder)
    from_folder = load_clip_vision(prior_folder / "image_encoder")
    state = {k: v.contiguous() for k, v in from_prior.image_encoder.state_dict().items()}
    save_file(state, tmp_path / "clip_vision.safetensors")
    from_file = load_clip_vision(tmp_path / "clip_vision.safetensors")
    assert from_file.image_encoder.config.image_size == from_prior.image_encoder.config.image_size
    expected = encode_image(from_prior, image).embeds
    assert torch.equal(encode_image(from_folder, image).embeds, expected)
    # built in code rather than by from_pretrained: the attention kernel may differ in rounding
    assert float((encode_image(from_file, image).embeds - expected).abs().max()) <= 1e-6


def test_not_a_clip_vision_file_is_named(tmp_path):
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ModelLoadError, match="Not a CLIP vision model") as info:
        load_clip_vision(tmp_path / "other.safetensors")
    assert "other.safetensors" in str(info.value)
    with pytest.raises(ModelLoadError, match="config.json"):
        load_clip_vision(tmp_path)
