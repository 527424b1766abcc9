"""Family detection from safetensors headers, and the model folders (user, extra, built-in)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from pipelines.errors import ModelLoadError
from pipelines.loading.detect import detect, read_header

U = "model.diffusion_model."
CTX = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


def fake_safetensors(path: Path, shapes: dict[str, list[int]]) -> Path:
    """A well-formed safetensors file of zero bytes (uint8), written sparsely."""
    header, offset = {}, 0
    for key, shape in shapes.items():
        size = 1
        for dim in shape:
            size *= dim
        header[key] = {"dtype": "U8", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(blob)) + blob)
        handle.truncate(8 + len(blob) + offset)
    return path


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ({U + "input_blocks.0.0.weight": [320, 4, 3, 3], U + CTX: [320, 768]}, "checkpoint sd1"),
        ({U + "input_blocks.0.0.weight": [320, 9, 3, 3], U + CTX: [320, 768]},
         "checkpoint sd1-inpainting"),
        ({U + "input_blocks.0.0.weight": [320, 4, 3, 3], U + CTX: [320, 1024]}, "checkpoint sd2"),
        ({U + "input_blocks.0.0.weight": [320, 4, 3, 3], U + "label_emb.0.0.weight": [1280, 2816]},
         "checkpoint sdxl"),
        ({U + "input_blocks.0.0.weight": [384, 4, 3, 3], U + "label_emb.0.0.weight": [1536, 2560]},
         "checkpoint sdxl_refiner"),
        ({"input_blocks.0.0.weight": [320, 4, 3, 3], CTX: [320, 768]}, "unet sd1"),
        ({"encoder.conv_in.weight": [128, 3, 3, 3], "decoder.conv_in.weight": [512, 4, 3, 3]},
         "vae"),
        ({"lora_unet_down_blocks_0.lora_down.weight": [4, 320]}, "lora"),
        ({"emb_params": [2, 768]}, "embedding"),
        ({"conv_first.weight": [64, 3, 3, 3]}, "upscaler"),
        ({"something.else": [3]}, "unknown"),
    ],
)
def test_family_and_kind_from_header(tmp_path, shapes, expected):
    path = fake_safetensors(tmp_path / "m.safetensors", shapes)
    assert detect(path).describe().startswith(expected)


def test_header_is_read_without_loading_tensors(tmp_path):
    # 2 GB of (sparse) tensor data: reading the header must not touch it
    path = fake_safetensors(tmp_path / "big.safetensors", {"x": [2_000_000_000]})
    assert read_header(path)["x"]["shape"] == [2_000_000_000]


@pytest.mark.parametrize("content", [b"", b"\xff" * 8 + b"{}", struct.pack("<Q", 5) + b"nope!"])
def test_broken_files_name_the_file(tmp_path, content):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        read_header(path)


def test_model_folders_user_extra_comfyui_and_a1111(tmp_path, monkeypatch):
    from nodes._models import list_models, resolve_model

    user, comfy, webui = tmp_path / "user", tmp_path / "ComfyUI/models", tmp_path / "webui"
    fake_safetensors(_mk(user / "checkpoints") / "mine.safetensors", {"a": [1]})
    fake_safetensors(_mk(comfy / "loras") / "style.safetensors", {"a": [1]})
    fake_safetensors(_mk(webui / "models/Stable-diffusion") / "a1111.safetensors", {"a": [1]})
    fake_safetensors(_mk(webui / "embeddings") / "emb.safetensors", {"emb_params": [1, 768]})
    config = tmp_path / "models.toml"
    config.write_text(f'[[extra]]\npath = "{comfy}"\n[[extra]]\npath = "{webui}"\n'
                      f'layout = "a1111"\n')
    monkeypatch.setenv("STUDIO_MODELS", str(user))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(config))
    checkpoints = list_models("checkpoints")
    assert checkpoints[:2] == ["mine.safetensors", "a1111.safetensors"]
    assert list_models("loras") == ["style.safetensors"]
    assert list_models("embeddings") == ["emb.safetensors"]
    assert resolve_model("a1111.safetensors", "checkpoints").parent.name == "Stable-diffusion"
    with pytest.raises(FileNotFoundError, match="models.toml"):
        resolve_model("absent.safetensors", "checkpoints")


def test_models_under_a_hidden_user_folder_are_listed_but_hidden_files_are_not(
        tmp_path, monkeypatch):
    """The default models folder is ~/.local/share/diffusion-studio/models."""
    from nodes._models import list_models

    user = tmp_path / ".local/share/diffusion-studio/models"
    fake_safetensors(_mk(user / "vae") / "sdxl_vae.safetensors", {"a": [1]})
    fake_safetensors(_mk(user / "vae/.trash") / "old.safetensors", {"a": [1]})
    fake_safetensors(user / "vae" / ".partial.safetensors", {"a": [1]})
    monkeypatch.setenv("STUDIO_MODELS", str(user))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    assert list_models("vae") == ["sdxl_vae.safetensors"]


def test_bad_config_is_a_clear_error(tmp_path, monkeypatch):
    from pipelines.loading.folders import ModelFolderConfigError, roots

    config = tmp_path / "models.toml"
    config.write_text("[[extra]]\nlayout = 'comfyui'\n")
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(config))
    with pytest.raises(ModelFolderConfigError, match="models.toml.*needs a path"):
        roots("checkpoints")


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
