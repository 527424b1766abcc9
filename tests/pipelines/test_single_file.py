"""Single-file checkpoints: detection, offline loading equal to the diffusers folder they came
from, the shipped CLIP tokenizer, and refusal of unsafe or unknown files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.detect import detect
from pipelines.testing.tiny_families import VARIANTS, build_family


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {variant: build_family(variant, root) for variant in VARIANTS}


def _realigned(loaded_model):
    """Fresh copies of every weight: diffusers' folder loader can leave tensors at unaligned
    addresses inside the file's buffer, and CPU convolutions then round differently (~1e-7,
    which a v-prediction model amplifies); values are untouched."""
    for net in (loaded_model[0].denoiser, loaded_model[2].vae):
        for param in net.parameters():
            param.data = param.data.clone()
    return loaded_model


@pytest.fixture(scope="module")
def loaded(tiny_models):
    """variant -> (from the single file, from the folder)."""
    return {v: (load_checkpoint(m.file), _realigned(load_checkpoint(m.folder)))
            for v, m in tiny_models.items()}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_detect_names_the_family(tiny_models, variant):
    model = tiny_models[variant]
    found = detect(model.file)
    assert (found.kind, found.family) == ("checkpoint", VARIANTS[variant])
    assert detect(model.folder).family == VARIANTS[variant]


def _sample(model, clip, steps: int = 3) -> torch.Tensor:
    from pipelines.sampling.denoise import denoise
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    positive, negative = encode_text(clip, "a photo of a cat"), encode_text(clip, "")
    latent = Latent(torch.zeros(1, model.latent_channels, 8, 8))
    return denoise(model, positive, negative, latent, Noise(7), steps=steps, cfg=5.0).samples


@pytest.mark.parametrize("variant", ["sd1", "sd2", "sd2-v", "sdxl"])
def test_single_file_samples_like_its_folder(loaded, variant):
    (model, clip, vae), (model_f, clip_f, vae_f) = loaded[variant]
    assert model.family == model_f.family == VARIANTS[variant]
    assert model.prediction_type == model_f.prediction_type
    assert model.prediction_type == ("v_prediction" if variant == "sd2-v" else "epsilon")
    plain = [{k: v for k, v in m.scheduler_config.items() if not k.startswith("_")}
             for m in (model, model_f)]
    assert plain[0] == plain[1]
    assert vae.scaling_factor == vae_f.scaling_factor
    ours, reference = _sample(model, clip), _sample(model_f, clip_f)
    assert ours.abs().max() > 0.1  # a real result, not zeros
    assert (ours - reference).abs().max() <= 1e-5


def test_refiner_weights_and_text_encoding_match_its_folder(loaded):
    from pipelines.text.conditioning import encode_text

    (model, clip, vae), (model_f, clip_f, vae_f) = loaded["sdxl-refiner"]
    assert model.family == "sdxl_refiner" and clip.text_encoder is None
    for ours, theirs in ((model.denoiser, model_f.denoiser), (vae.vae, vae_f.vae),
                         (clip.text_encoder_2, clip_f.text_encoder_2)):
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x, y = encode_text(clip, "a photo of a cat"), encode_text(clip_f, "a photo of a cat")
    assert torch.equal(x.embeds, y.embeds) and torch.equal(x.pooled, y.pooled)


def test_shipped_tokenizer_is_clips():
    from pipelines.loading.readers import clip_tokenizer

    tokenizer = clip_tokenizer()
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer("hello world!").input_ids == [49406, 3306, 1002, 256, 49407]
    padded = tokenizer("a cat", padding="max_length", max_length=6).input_ids
    assert padded == [49406, 320, 2368, 49407, 49407, 49407]
    open_clip = clip_tokenizer(pad_token="!")  # SD2 and SDXL's second encoder pad with "!"
    assert open_clip("a cat", padding="max_length", max_length=6).input_ids[-1] == 0


def test_sd2_prediction_type_guess():
    from pipelines.loading.single_file import template_for

    state: dict[str, torch.Tensor] = {}
    assert template_for("sd2", Path("v2-1_768-ema-pruned.safetensors"), state, {}) == "sd2-v"
    assert template_for("sd2", Path("v2-1_512-ema-pruned.safetensors"), state, {}) == "sd2"
    meta = {"modelspec.prediction_type": "v"}
    assert template_for("sd2", Path("mymix.safetensors"), state, meta) == "sd2-v"
    key = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
    assert template_for("sd2", Path("mymix.ckpt"), {key: torch.randn(320)}, {}) == "sd2-v"
    assert template_for("sd2", Path("mymix.ckpt"), {key: torch.zeros(320)}, {}) == "sd2"


def test_ckpt_with_plain_tensors_loads(tiny_models, loaded, tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "model.ckpt"
    torch.save({"global_step": 10, "state_dict": load_file(tiny_models["sd1"].file)}, path)
    model, _, _ = load_checkpoint(path)
    reference = loaded["sd1"][0][0].denoiser.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.denoiser.state_dict().items())


class _Payload:
    """Unpickling this object creates a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mknod, (str(self.marker),))


def test_pickle_that_runs_code_is_refused_unrun(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Payload(marker)}, path)
    with pytest.raises(ModelLoadError, match="could run code") as info:
        load_checkpoint(path)
    assert "evil.ckpt" in str(info.value)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # proof that the file really was malicious
    assert marker.exists()


def test_unknown_and_partial_files_are_named(tmp_path, tiny_models):
    from safetensors.torch import load_file, save_file

    unknown = tmp_path / "weird.safetensors"
    save_file({"something.else": torch.zeros(3)}, str(unknown))
    with pytest.raises(ModelLoadError, match="Not a supported model") as info:
        load_checkpoint(unknown)
    assert "weird.safetensors" in str(info.value)
    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(2, 2)}, str(lora))
    with pytest.raises(ModelLoadError, match="lora"):
        load_checkpoint(lora)
    state = load_file(tiny_models["sd1"].file)
    state.pop(next(k for k in state if k.startswith("first_stage_model.decoder")))
    broken = tmp_path / "broken.safetensors"
    save_file(state, str(broken))
    with pytest.raises(ModelLoadError, match="VAE weights are incomplete") as info:
        load_checkpoint(broken)
    assert "broken.safetensors" in str(info.value)
    stub = tmp_path / "stub.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3),
               "cond_stage_model.transformer.text_model.x": torch.zeros(1)}, str(stub))
    with pytest.raises(ModelLoadError, match="unexpected layout") as info:
        load_checkpoint(stub)
    assert "stub.safetensors" in str(info.value)
