"""SD 2.1 unCLIP single files (``sd21-unclip-h.safetensors`` / ``.ckpt``, the original layout):
detected from the header, loaded offline to exactly the networks of the diffusers folder they
were written from (the OpenCLIP vision tower converted to CLIPVisionModelWithProjection), and
sampling the same image (the node path: tests/nodes/test_sd_unclip_file_node.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.clip_vision import load_clip_vision
from pipelines.loading.detect import detect, read_header
from pipelines.sampling.denoise import denoise
from pipelines.sampling.image_embeds import encode_image
from pipelines.sampling.unclip_adm import add_unclip
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_sd_unclip_file import build_tiny_sd_unclip_file
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_sd_unclip_file(tmp_path_factory.mktemp("sd-unclip-file"))


@pytest.fixture(scope="module")
def loaded(built):
    """(from the file, from the folder): ((model, clip, vae), vision) each."""
    folder, file = built
    ours, theirs = [(load_checkpoint(p), load_clip_vision(p)) for p in (file, folder)]
    # fresh copies of the folder's weights (values untouched): diffusers' folder loader can
    # leave tensors unaligned inside the file's buffer, and CPU kernels then round
    # differently (~1e-7), as test_single_file.py explains
    (model, clip, vae), vision = theirs
    for net in (model.denoiser, vae.vae, clip.text_encoder, vision.image_encoder):
        for param in net.parameters():
            param.data = param.data.clone()
    return [ours, theirs]


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, different[:3]


def test_the_header_says_sd21_unclip_and_sd2_files_stay_sd2(built, tmp_path):
    _, file = built
    found = detect(file)
    assert (found.kind, found.family) == ("checkpoint", "sd21_unclip")
    assert "embedder.model.visual.conv1.weight" in read_header(file)


def test_every_weight_equals_the_folder_load(loaded):
    ((model, clip, vae), vision), ((model_f, clip_f, vae_f), vision_f) = loaded
    assert model.family == model_f.family == "sd21_unclip"
    _equal(model.denoiser, model_f.denoiser)
    _equal(vae.vae, vae_f.vae)
    _equal(clip.text_encoder, clip_f.text_encoder)
    _equal(vision.image_encoder, vision_f.image_encoder)
    assert vision.image_encoder.config.num_attention_heads == 1  # 64-wide heads, from shapes
    assert torch.equal(model.extras["mean"], model_f.extras["mean"])
    assert torch.equal(model.extras["std"], model_f.extras["std"])
    plain = [{k: v for k, v in c.items() if not k.startswith("_")}
             for c in (model.extras["noising"], model_f.extras["noising"],
                       model.scheduler_config, model_f.scheduler_config)]
    assert plain[0] == plain[1] and plain[2] == plain[3]


def _variation(loaded_one) -> torch.Tensor:
    (model, clip, vae), vision = loaded_one
    pixels = torch.randint(0, 256, (1, 40, 48, 3), generator=torch.Generator().manual_seed(3))
    embedding = encode_image(vision, pixels.float() / 255)
    positive = add_unclip(encode_text(clip, "a photo"), embedding, 1.0, 0.1)
    latent = denoise(model, positive, encode_text(clip, ""), Latent(torch.zeros(1, 4, 8, 8)),
                     Noise(5), sampler="euler", steps=3, cfg=5.0)
    return decode(vae, latent)


def test_a_variation_from_the_file_equals_one_from_the_folder(loaded):
    ours, folder = (_variation(one) for one in loaded)
    assert ours.abs().max() > 0.01
    assert (ours - folder).abs().max().item() <= 1e-5


def test_a_ckpt_of_plain_tensors_and_a_file_without_statistics(built, loaded, tmp_path):
    from safetensors.torch import load_file, save_file

    _, file = built
    state = load_file(str(file))
    ckpt = tmp_path / "sd21-unclip-h.ckpt"
    torch.save({"state_dict": state}, ckpt)
    (model, _, _), vision = load_checkpoint(ckpt), load_clip_vision(ckpt)
    _equal(model.denoiser, loaded[1][0][0].denoiser)
    _equal(vision.image_encoder, loaded[1][1].image_encoder)
    bare = tmp_path / "no-stats.safetensors"
    save_file({k: v for k, v in state.items() if "data_" not in k}, str(bare))
    model, _, _ = load_checkpoint(bare)
    assert torch.equal(model.extras["mean"], torch.zeros(1, 32))  # as ComfyUI: 0 and 1
    assert torch.equal(model.extras["std"], torch.ones(1, 32))


def test_a_broken_vision_tower_is_named_in_one_line(built, tmp_path):
    from safetensors.torch import load_file, save_file

    from pipelines.errors import ModelLoadError

    state = load_file(str(built[1]))
    broken = tmp_path / "broken.safetensors"
    save_file({k: v for k, v in state.items() if not k.endswith("visual.proj")}, str(broken))
    with pytest.raises(ModelLoadError, match="CLIP vision tower") as info:
        load_clip_vision(broken)
    assert "broken.safetensors" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("width", "heads", "act"), [
    (1280, 16, "gelu"),  # OpenCLIP ViT-H/14 (sd21-unclip-h, clip_vision_h): 80-wide heads
    (1024, 16, "quick_gelu"),  # OpenAI ViT-L/14 (sd21-unclip-l)
    (1664, 16, "gelu"),  # OpenCLIP ViT-bigG/14
    (768, 12, "quick_gelu"),  # OpenAI ViT-B
])
def test_real_vision_towers_get_their_head_counts(width, heads, act):
    from pipelines.loading.clip_vision import config_from_state

    meta = {"device": "meta"}
    state = {"vision_model.embeddings.patch_embedding.weight": torch.empty(width, 3, 14, 14, **meta),
             "vision_model.embeddings.position_embedding.weight": torch.empty(257, width, **meta),
             "visual_projection.weight": torch.empty(1024, width, **meta),
             "vision_model.encoder.layers.0.mlp.fc1.weight": torch.empty(4 * width, width, **meta)}
    config = config_from_state(state, Path("x.safetensors"))
    assert (config.num_attention_heads, config.hidden_act, config.image_size) == (heads, act, 224)
