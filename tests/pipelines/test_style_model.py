"""Flux Redux as ComfyUI's style model: Load Style Model builds diffusers' ReduxImageEncoder
from a redux_up/redux_down file, and Apply Style Model appends the image's tokens to the text
tokens exactly as FluxPriorReduxPipeline's prompt_embeds (tiny SigLIP + Redux), with
ComfyUI's strength."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.errors import ModelLoadError
from pipelines.image import to_pil
from pipelines.loading.style_model import load_style_model
from pipelines.sampling.style_model import apply_style
from pipelines.values import Conditioning


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.testing.tiny_redux import build_tiny_redux, build_tiny_siglip

    root = tmp_path_factory.mktemp("redux")
    siglip = build_tiny_siglip(root / "siglip")
    redux_file = build_tiny_redux(root / "redux.safetensors")
    return siglip, load_clip_vision(siglip), load_style_model(redux_file)


def _image() -> torch.Tensor:
    return torch.rand(1, 40, 36, 3, generator=torch.Generator().manual_seed(2))


def test_prompt_tokens_match_the_flux_prior_redux_pipeline(parts, tmp_path):
    from diffusers import FluxPriorReduxPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, SiglipImageProcessor, SiglipVisionModel

    from pipelines.sampling.image_embeds import encode_image
    from pipelines.testing.tiny import build_tokenizer

    siglip, vision, redux = parts
    text = torch.randn(1, 8, 64, generator=torch.Generator().manual_seed(3))
    pooled = torch.randn(1, 32, generator=torch.Generator().manual_seed(4))
    pipe = FluxPriorReduxPipeline(
        image_encoder=SiglipVisionModel.from_pretrained(siglip),
        feature_extractor=SiglipImageProcessor.from_pretrained(siglip), image_embedder=redux,
        text_encoder=CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37,
                                                  num_hidden_layers=1, num_attention_heads=4,
                                                  vocab_size=1000)),
        tokenizer=build_tokenizer(tmp_path))
    theirs = pipe(to_pil(_image())[0], prompt_embeds=text, pooled_prompt_embeds=pooled).prompt_embeds
    output = encode_image(vision, _image())
    assert output.hidden.shape == (1, 4, 32)  # 28 px in 14 px patches
    ours = apply_style(Conditioning(embeds=text), redux, output.hidden, 1.0).embeds
    assert ours.shape == theirs.shape == (1, 12, 64)
    assert (ours - theirs).abs().max().item() == 0.0


def test_strength_scales_only_the_image_tokens_as_comfyui(parts):
    from pipelines.sampling.image_embeds import encode_image

    _siglip, vision, redux = parts
    hidden = encode_image(vision, torch.cat([_image(), 1 - _image()])).hidden
    text = torch.randn(1, 8, 64)
    one = apply_style(Conditioning(embeds=text), redux, hidden, 1.0).embeds
    # encoded under inference mode, handed on as ordinary tensors (later nodes may edit them)
    assert not hidden.is_inference() and not one.is_inference()
    half = apply_style(Conditioning(embeds=text), redux, hidden, 0.5, "multiply").embeds
    assert one.shape == (1, 8 + 2 * 4, 64)  # both images' tokens, one after the other
    assert torch.equal(half[:, :8], text) and torch.allclose(half[:, 8:], one[:, 8:] * 0.5)
    same = apply_style(Conditioning(embeds=text), redux, hidden, 1.0, "attn_bias").embeds
    assert torch.equal(same, one)
    with pytest.raises(ValueError, match="attn_bias"):
        apply_style(Conditioning(embeds=text), redux, hidden, 0.5, "attn_bias")
    with pytest.raises(ValueError, match="64-wide tokens"):
        apply_style(Conditioning(embeds=torch.zeros(1, 77, 768)), redux, hidden, 1.0)


def test_files_that_are_not_redux(tmp_path):
    save_file({"style_embedding": torch.zeros(1, 8, 768)}, str(tmp_path / "t2i.safetensors"))
    with pytest.raises(ModelLoadError, match="T2I style adapter"):
        load_style_model(tmp_path / "t2i.safetensors")
    save_file({"redux_up.weight": torch.zeros(12, 4), "redux_down.weight": torch.zeros(5, 12)},
              str(tmp_path / "bad.safetensors"))
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_style_model(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("head", [True, False])
def test_a_siglip_file_as_comfyui_has_it_loads_as_the_folder(tmp_path, head):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.sampling.image_embeds import encode_image

    torch.manual_seed(0)  # 64 wide: one 64-channel head, as the shapes tell
    config = SiglipVisionConfig(hidden_size=64, intermediate_size=37, num_hidden_layers=2,
                                num_attention_heads=1, image_size=28, patch_size=14,
                                vision_use_head=head)
    model = SiglipVisionModel(config).eval()
    model.save_pretrained(tmp_path / "folder")
    from transformers import SiglipImageProcessor

    SiglipImageProcessor(size={"height": 28, "width": 28}).save_pretrained(tmp_path / "folder")
    # ComfyUI's file: transformers 4 names, all under vision_model.
    save_file({"vision_model." + k.removeprefix("vision_model."): v.contiguous()
               for k, v in model.state_dict().items()}, str(tmp_path / "sigclip.safetensors"))
    from_file = load_clip_vision(tmp_path / "sigclip.safetensors")
    from_folder = load_clip_vision(tmp_path / "folder")
    assert type(from_file.image_encoder).__name__ == "SiglipVisionModel"
    a, b = encode_image(from_file, _image()), encode_image(from_folder, _image())
    assert torch.equal(a.hidden, b.hidden) and a.hidden.shape == (1, 4, 64)
