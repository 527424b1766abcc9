"""LoRA: kohya and diffusers/PEFT layouts change the output; strength 0 or dropping the LoRA
gives the base back bit for bit; LoRAs stack; the cached base model is never modified."""

from __future__ import annotations

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.convert import UNET_PREFIX, unet_to_original
from pipelines.loading.lora import apply_lora
from pipelines.testing.tiny_families import build_family


@pytest.fixture(scope="module")
def sd1(tmp_path_factory):
    return load_checkpoint(build_family("sd1", tmp_path_factory.mktemp("lora")).folder)


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    return load_checkpoint(build_family("sdxl", tmp_path_factory.mktemp("lora")).folder)


def _targets(net, suffixes):
    return [n for n, m in net.named_modules()
            if isinstance(m, torch.nn.Linear | torch.nn.Conv2d) and n.endswith(suffixes)]


def make_lora(model, clip, layout: str, seed: int = 0, rank: int = 2) -> dict[str, torch.Tensor]:
    """A random LoRA on the UNet attention (+ SD1's conv proj_in) and the text q/v projections.

    layout: "kohya" (diffusers UNet names), "kohya-sgm" (original UNet names, te1/te2 as
    SDXL files have them) or "peft".
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    parts = [("unet", model.denoiser, ("to_q", "to_v", "to_out.0", "proj_in"))]
    parts += [(name, getattr(clip, name), ("q_proj", "v_proj"))
              for name in ("text_encoder", "text_encoder_2") if getattr(clip, name) is not None]
    for part, net, suffixes in parts:
        names = _targets(net, suffixes)
        if part == "unet" and layout == "kohya-sgm":
            keys = unet_to_original({n + ".weight": None for n in names}, dict(net.config))
            spelled = [k[len(UNET_PREFIX):].removesuffix(".weight") for k in keys]
        elif part != "unet":
            spelled = [n if n.startswith("text_model.") else "text_model." + n for n in names]
        else:
            spelled = names
        modules = dict(net.named_modules())
        for name, spelling in zip(names, spelled, strict=True):
            weight = modules[name].weight
            down_shape = (rank, *weight.shape[1:])
            down = torch.randn(down_shape, generator=generator) * 0.3
            up = torch.randn((weight.shape[0], rank, *[1] * (weight.dim() - 2)), generator=generator) * 0.3
            if layout == "peft":
                state[f"{part}.{spelling}.lora_A.weight"] = down
                state[f"{part}.{spelling}.lora_B.weight"] = up
            else:
                te = {"unet": "unet", "text_encoder": "te", "text_encoder_2": "te2"}[part]
                if te == "te" and clip.text_encoder_2 is not None:
                    te = "te1"
                base = f"lora_{te}_" + spelling.replace(".", "_")
                state[base + ".lora_down.weight"] = down
                state[base + ".lora_up.weight"] = up
                state[base + ".alpha"] = torch.tensor(float(rank) / 2)
    return state


def _sample(model, clip) -> torch.Tensor:
    from pipelines.sampling.denoise import denoise
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    positive, negative = encode_text(clip, "a photo of a cat"), encode_text(clip, "")
    latent = Latent(torch.zeros(1, model.latent_channels, 8, 8))
    return denoise(model, positive, negative, latent, Noise(3), steps=2, cfg=4.0).samples


def _weights(net) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("layout", ["kohya", "peft"])
def test_lora_changes_output_and_leaves_the_base_alone(sd1, layout):
    model, clip, _ = sd1
    before = _weights(model.denoiser) | {"te." + k: v for k, v in _weights(clip.text_encoder).items()}
    base = _sample(model, clip)
    lora = make_lora(model, clip, layout)
    patched_model, patched_clip = apply_lora(model, clip, lora, 1.0, 1.0)
    assert patched_model.denoiser is not model.denoiser and patched_clip.text_encoder is not clip.text_encoder
    assert (_sample(patched_model, patched_clip) - base).abs().max() > 1e-3
    # the base model (what the executor caches) is untouched: same weights, same result
    after = _weights(model.denoiser) | {"te." + k: v for k, v in _weights(clip.text_encoder).items()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(_sample(model, clip), base)
    same_model, same_clip = apply_lora(model, clip, lora, 0.0, 0.0)
    assert same_model is model and same_clip is clip
    assert torch.equal(_sample(same_model, same_clip), base)


def test_weight_delta_is_alpha_over_rank_times_up_down(sd1):
    model, clip, _ = sd1
    kohya = make_lora(model, clip, "kohya", rank=2)
    patched, _ = apply_lora(model, clip, kohya, strength_model=0.5, strength_clip=0.0)
    name = _targets(model.denoiser, ("to_q",))[0]
    key = "lora_unet_" + name.replace(".", "_")
    up, down = kohya[key + ".lora_up.weight"], kohya[key + ".lora_down.weight"]
    expected = dict(model.denoiser.named_modules())[name].weight + 0.5 * (1.0 / 2) * up @ down
    got = dict(patched.denoiser.named_modules())[name].weight
    assert torch.allclose(got, expected, atol=1e-6)
    # strength_clip 0: the text encoder is the base object itself
    assert apply_lora(model, clip, kohya, 1.0, 0.0)[1] is clip


def test_two_loras_stack_and_commute(sd1):
    model, clip, _ = sd1
    first, second = make_lora(model, clip, "kohya", seed=1), make_lora(model, clip, "peft", seed=2)
    ab = apply_lora(*apply_lora(model, clip, first, 0.8, 0.8), second, 0.6, 0.6)
    ba = apply_lora(*apply_lora(model, clip, second, 0.6, 0.6), first, 0.8, 0.8)
    only_a = apply_lora(model, clip, first, 0.8, 0.8)
    stacked = _sample(*ab)
    assert (stacked - _sample(*ba)).abs().max() < 1e-4
    assert (stacked - _sample(*only_a)).abs().max() > 1e-3


def test_sdxl_kohya_file_with_original_unet_names(sdxl):
    model, clip, _ = sdxl
    lora = make_lora(model, clip, "kohya-sgm")
    assert any(k.startswith("lora_unet_input_blocks_") for k in lora)
    assert any(k.startswith("lora_te2_") for k in lora)
    base = _sample(model, clip)
    unet_only, same_clip = apply_lora(model, clip, lora, 1.0, 0.0)
    assert same_clip is clip
    assert (_sample(unet_only, clip) - base).abs().max() > 1e-3
    changed = [n for (n, a), b in zip(model.denoiser.named_parameters(), unet_only.denoiser.parameters(),
                                      strict=True) if a is not b]
    assert len(changed) == sum(k.startswith("lora_unet_") and k.endswith("down.weight") for k in lora)
    patched_model, patched_clip = apply_lora(model, clip, lora, 0.0, 1.0)
    assert patched_model is model
    assert patched_clip.text_encoder is not clip.text_encoder
    assert patched_clip.text_encoder_2 is not clip.text_encoder_2
    assert torch.equal(_sample(model, clip), base)


def test_lora_for_another_model_is_a_clear_error(sd1):
    model, clip, _ = sd1
    alien = {"lora_unet_input_blocks_99_1_proj.lora_down.weight": torch.zeros(2, 8),
             "lora_unet_input_blocks_99_1_proj.lora_up.weight": torch.zeros(8, 2)}
    with pytest.raises(ModelLoadError, match="match this model"):
        apply_lora(model, clip, alien, 1.0, 1.0, source="alien.safetensors")


def test_model_only_lora_patches_the_model_exactly_as_with_clip_strength_zero(sd1):
    """ComfyUI's LoraLoaderModelOnly: no text encoder at all, the model patched the same."""
    model, clip, _ = sd1
    kohya = make_lora(model, clip, "kohya", rank=2)
    with_clip, _ = apply_lora(model, clip, kohya, 0.7, 0.0)
    alone, no_clip = apply_lora(model, None, kohya, 0.7, 1.0)
    assert no_clip is None
    name = _targets(model.denoiser, ("to_q",))[0]
    assert torch.equal(dict(alone.denoiser.named_modules())[name].weight,
                       dict(with_clip.denoiser.named_modules())[name].weight)
    assert not torch.equal(dict(alone.denoiser.named_modules())[name].weight,
                           dict(model.denoiser.named_modules())[name].weight)
