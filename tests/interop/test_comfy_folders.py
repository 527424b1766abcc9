"""ComfyUI's model folder names over ours (issue 15): what GET /models/{folder} and
GET /embeddings answer, names only, no file opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.interop.comfy_folders import (
    embeddings_list,
    files,
    folder_names,
    input_images,
    kind_of,
    models_list,
)


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    for name in ("checkpoints/sd15.safetensors", "checkpoints/sdxl/Base.ckpt",
                 "checkpoints/notes.txt", "loras/detail.safetensors",
                 "loras/.hidden/secret.safetensors", "embeddings/easynegative.safetensors",
                 "embeddings/style.pt", "unet/flux1-dev.safetensors",
                 "text_encoders/t5xxl_fp16.safetensors", "clip/clip_l.safetensors"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"not a model: never opened")
    (root / "checkpoints" / "tiny-sd").mkdir()  # a diffusers folder, listed by its name
    (root / "checkpoints" / "tiny-sd" / "model_index.json").write_text("{}")
    (root / "checkpoints" / "tiny-sd" / "unet.safetensors").write_bytes(b"")
    monkeypatch.setenv("STUDIO_MODELS", str(root))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "no-config.toml"))
    return root


def test_a_folder_lists_its_model_files_as_comfyui_names_them(models):
    checkpoints = models_list("checkpoints")
    assert checkpoints is not None
    assert {"sd15.safetensors", "sdxl/Base.ckpt", "tiny-sd"} <= set(checkpoints)
    assert "notes.txt" not in checkpoints and "tiny-sd/unet.safetensors" not in checkpoints
    assert "demo" in checkpoints  # the built-in model
    assert models_list("loras") == ["detail.safetensors"]  # hidden folders stay hidden


def test_comfyuis_old_folder_names_and_ours_agree(models):
    assert models_list("diffusion_models") == models_list("unet") == ["flux1-dev.safetensors"]
    assert models_list("text_encoders") == models_list("clip") == [
        "clip_l.safetensors", "t5xxl_fp16.safetensors"]
    assert kind_of("t2i_adapter") == "controlnet"


def test_folders_we_keep_nothing_in_are_empty_and_unknown_ones_are_none(models):
    assert models_list("style_models") == [] and models_list("configs") == []
    assert models_list("no_such_folder") is None
    assert models_list("../checkpoints") is None and models_list("") is None
    assert models_list("preprocessors") is None  # ours only, not a ComfyUI folder
    names = folder_names()
    assert {"checkpoints", "loras", "vae", "embeddings", "unet", "clip"} <= set(names)
    assert all(models_list(name) is not None for name in names)


def test_embeddings_are_listed_without_their_extension(models):
    assert embeddings_list() == ["easynegative", "style"]


def test_input_images_are_the_image_files_at_the_top_of_the_input_folder(tmp_path, monkeypatch):
    folder = tmp_path / "input"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.PNG", "a.jpg", "notes.txt", ".hidden.png", "sub/c.png"):
        (folder / name).write_bytes(b"")
    assert input_images(folder) == ["a.jpg", "b.PNG"]
    monkeypatch.setenv("STUDIO_INPUT", str(folder))
    assert files("input") == ["a.jpg", "b.PNG"]
    assert input_images(tmp_path / "missing") == []


def test_a_malformed_folder_config_is_named_not_hidden(models, tmp_path, monkeypatch):
    from pipelines.loading.folders import ModelFolderConfigError

    config = tmp_path / "models.toml"
    config.write_text("[[extra]\npath = ")
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(config))
    with pytest.raises(ModelFolderConfigError, match="models.toml"):
        models_list("loras")
    assert files("loras") == []  # object_info's combos stay empty instead of failing
