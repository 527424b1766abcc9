"""Settings > Model folders: a folder picked anywhere on disk is added to models.toml (kept
between launches, read by the command line too) and its models are listed and load; a model
picked by hand in a node's dialog brings its folder in and the node keeps only its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.gui.model_folders import adopt_model
from pipelines.loading.file_policy import ALLOW_ENV
from pipelines.loading.folders import resolve, roots


@pytest.fixture()
def config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(ALLOW_ENV, "")
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "user"))
    path = tmp_path / "config" / "models.toml"
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(path))
    return path


def _checkpoint(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    return path


def test_settings_add_a_model_folder_that_then_lists_and_resolves(window, config, tmp_path):
    from nodes._models import list_models

    picked = tmp_path / "external drive" / "models"
    _checkpoint(picked, "dreamy.safetensors")
    shown = []
    window.show_dialog = shown.append
    window.actions["settings"].trigger()
    editor = shown[0].model_folders
    assert editor.folders.count() == 0
    assert "dreamy.safetensors" not in list_models("checkpoints")
    editor.choose_folder = lambda: picked  # what the folder dialog answers
    assert editor.add()
    assert config.is_file() and str(picked) in config.read_text(encoding="utf-8")
    assert editor.folders.count() == 1 and str(picked) in editor.folders.item(0).text()
    assert "dreamy.safetensors" in list_models("checkpoints")
    assert resolve("dreamy.safetensors", "checkpoints") == picked / "dreamy.safetensors"
    before = config.read_text(encoding="utf-8")
    assert not editor.add(picked)  # once is enough: one line, file unchanged
    assert not editor.problem.isHidden() and "already in" in editor.problem.text()
    assert config.read_text(encoding="utf-8") == before


def test_a_damaged_config_is_named_and_left_alone(window, config, tmp_path, qtbot):
    from app.gui.model_folders import ModelFoldersEditor

    config.parent.mkdir(parents=True)
    config.write_text("[[extra]\n")
    editor = ModelFoldersEditor()
    qtbot.addWidget(editor)  # closed and deleted with the test, not at interpreter exit
    assert not editor.problem.isHidden() and "not valid TOML" in editor.problem.text()
    picked = tmp_path / "picked"
    picked.mkdir()
    assert not editor.add(picked)
    assert config.read_text() == "[[extra]\n"


def test_a_model_picked_by_hand_brings_its_folder_in(config, tmp_path):
    outside = tmp_path / "downloads" / "lora pack"
    lora = _checkpoint(outside, "detail.safetensors")
    assert outside not in roots("loras")
    assert adopt_model(lora, "loras") == "detail.safetensors"  # the name, portable
    assert outside in roots("loras") and outside not in roots("checkpoints")
    assert resolve("detail.safetensors", "loras") == lora
    inside = _checkpoint(tmp_path / "user" / "loras", "mine.safetensors")
    assert adopt_model(inside, "loras") == str(inside)  # already in a model folder
