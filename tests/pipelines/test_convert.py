"""Diffusers -> original single-file layout, checked against diffusers' own reverse converters.

Real-size components are built on the meta device (shapes, no memory), so the key layout and
the config inference are checked at the real SD1.5 / SD2.1 / SDXL base / refiner sizes.
"""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.convert import pipeline_to_original, unet_to_original, vae_to_original
from pipelines.loading.detect import detect_header
from pipelines.loading.readers import CONFIGS, read_json
from pipelines.loading.single_file import from_state_dict

# template -> (family, diffusers' model type for the same file)
REAL = {"sd1": ("sd1", "v1"), "sd2-v": ("sd2", "v2"), "sdxl": ("sdxl", "xl_base"),
        "sdxl-refiner": ("sdxl_refiner", "xl_refiner")}


def _meta_components(template: str) -> dict[str, torch.nn.Module]:
    import transformers
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel

    folder = CONFIGS / template
    parts = {}
    with init_empty_weights(include_buffers=True):
        parts["unet"] = UNet2DConditionModel.from_config(read_json(folder / "unet/config.json"))
        parts["vae"] = AutoencoderKL.from_config(read_json(folder / "vae/config.json"))
        for name in ("text_encoder", "text_encoder_2"):
            if (folder / name).is_dir():
                config = read_json(folder / name / "config.json")
                cls = getattr(transformers, config["architectures"][0])
                parts[name] = cls(transformers.CLIPTextConfig.from_dict(config))
    return parts


@pytest.fixture(scope="module", params=list(REAL))
def real_meta(request):
    template = request.param
    parts = _meta_components(template)
    family = REAL[template][0]
    state = pipeline_to_original(family, parts["unet"], parts["vae"], parts.get("text_encoder"),
                                 parts.get("text_encoder_2"))
    return template, parts, state


def _plain(config) -> dict:
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def test_real_layout_is_what_diffusers_and_detect_expect(real_meta):
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    template, _, state = real_meta
    family, diffusers_type = REAL[template]
    assert infer_diffusers_model_type(state) == diffusers_type
    header = {k: {"shape": list(v.shape)} for k, v in state.items()}
    assert detect_header(header).family == family
    # the same with the text encoders removed: detection falls back to the UNet's shapes
    unet_only = {k: v for k, v in header.items() if k.startswith("model.diffusion_model.")}
    assert detect_header(unet_only).family == family


def test_real_sizes_rebuild_the_template_configs(real_meta):
    template, parts, state = real_meta
    metadata = {"modelspec.prediction_type": "v" if template == "sd2-v" else "epsilon"}
    model, clip, vae = from_state_dict(state, f"{template}.safetensors", metadata, device="meta")
    expected = _plain(parts["unet"].config)
    got = _plain(model.denoiser.config)
    depth = expected.pop("transformer_layers_per_block"), got.pop("transformer_layers_per_block")
    assert got == expected
    assert _plain(vae.vae.config) == _plain(parts["vae"].config)
    # e.g. the refiner's 4 comes back as [1, 4, 4, 4]: the same blocks, spelled per level
    # (depth only matters at cross-attention levels and, through the last entry, the mid block)
    levels = len(expected["block_out_channels"])
    want, have = ([d] * levels if isinstance(d, int) else list(d) for d in depth)
    used = [i for i, kind in enumerate(expected["down_block_types"]) if "CrossAttn" in kind]
    assert [have[i] for i in used + [-1]] == [want[i] for i in used + [-1]]
    for name in ("text_encoder", "text_encoder_2"):
        if name in parts:
            ours, theirs = getattr(clip, name).config, parts[name].config
            for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "hidden_act", "vocab_size", "projection_dim"):
                if key != "projection_dim" or name == "text_encoder_2":
                    assert getattr(ours, key) == getattr(theirs, key), (name, key)
    scheduler = read_json(CONFIGS / template / "scheduler/scheduler_config.json")
    assert model.prediction_type == scheduler.get("prediction_type", "epsilon")


def test_unet_and_vae_round_trip_through_diffusers_converters(real_meta):
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    _, parts, _ = real_meta
    unet, vae = parts["unet"], parts["vae"]
    back = convert_ldm_unet_checkpoint(unet_to_original(unet.state_dict(), dict(unet.config)),
                                       dict(unet.config))
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in unet.state_dict().items()}
    back = convert_ldm_vae_checkpoint(vae_to_original(vae.state_dict()), dict(vae.config))
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in vae.state_dict().items()}


def test_values_survive_the_round_trip():
    """Tiny random weights (real values, not meta): every tensor comes back bit-identical."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from pipelines.loading.convert import open_clip_to_original

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=16,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    te = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=16, intermediate_size=24,
                                                    num_hidden_layers=2, num_attention_heads=2,
                                                    vocab_size=50, projection_dim=8))
    pairs = [
        (unet, convert_ldm_unet_checkpoint(unet_to_original(unet.state_dict(), dict(unet.config)),
                                           dict(unet.config))),
        (vae, convert_ldm_vae_checkpoint(vae_to_original(vae.state_dict()), dict(vae.config))),
        (te, convert_open_clip_checkpoint(te, open_clip_to_original(te.state_dict(), "m."), "m.")),
    ]
    for module, back in pairs:
        original = module.state_dict()
        assert back.keys() >= original.keys() - {"text_model.embeddings.position_ids"}
        for key in back:
            assert torch.equal(back[key].reshape(original[key].shape), original[key]), key
