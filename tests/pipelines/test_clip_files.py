"""SD 1.x and SDXL text encoders from separate CLIP files (Load Text Encoders types sd1 and
sdxl; ComfyUI's CLIPLoader stable_diffusion / DualCLIPLoader sdxl) encode prompts exactly as
the checkpoint's own encoders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.model_parts import load_text_encoders_cached
from pipelines.memory.cache import ModelCache
from pipelines.testing.tiny_families import build_family
from pipelines.text.conditioning import encode_text

PROMPT = "a (red:1.2) cat on the mat, photo"


def _write(model, path: Path) -> Path:
    from safetensors.torch import save_file

    state = {k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}":
             v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip-files")
    out = {}
    for variant in ("sd1", "sdxl"):
        tiny = build_family(variant, root)
        _, clip, _ = load_checkpoint(tiny.folder)
        files = [_write(clip.text_encoder, root / f"{variant}-clip_l.safetensors")]
        if clip.text_encoder_2 is not None:
            files.append(_write(clip.text_encoder_2, root / f"{variant}-clip_g.safetensors"))
        out[variant] = (clip, files)
    return out


@pytest.mark.parametrize("variant", ["sd1", "sdxl"])
def test_files_encode_as_the_checkpoints_encoders(built, variant):
    clip, files = built[variant]
    for order in (files, files[::-1]):  # any order
        loaded = load_text_encoders_cached(order, variant, cache=ModelCache())
        assert loaded.family == variant
        ours, theirs = encode_text(loaded, PROMPT), encode_text(clip, PROMPT)
        assert torch.equal(ours.embeds, theirs.embeds)
        if variant == "sdxl":
            assert torch.equal(ours.extras["pooled"], theirs.extras["pooled"])
            assert type(loaded.text_encoder_2).__name__ == "CLIPTextModelWithProjection"


def test_wrong_sets_are_named(built):
    _, sd1_files = built["sd1"]
    _, sdxl_files = built["sdxl"]
    with pytest.raises(ModelLoadError, match="two CLIP files"):
        load_text_encoders_cached(sd1_files, "sdxl", cache=ModelCache())
    with pytest.raises(ModelLoadError, match="one CLIP-L file"):
        load_text_encoders_cached(sdxl_files, "sd1", cache=ModelCache())
    with pytest.raises(ModelLoadError, match="both files are"):
        load_text_encoders_cached([sdxl_files[0], sdxl_files[0]], "sdxl", cache=ModelCache())
