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


def test_settings_remove_a_model_folder_keeps_comments_and_other_folders(window, config,
                                                                          tmp_path):
    from nodes._models import list_models

    keep, drop = tmp_path / "keep", tmp_path / "drop"
    _checkpoint(keep, "kept.safetensors")
    _checkpoint(drop, "dropped.safetensors")
    config.parent.mkdir(parents=True)
    config.write_text("# hand-written: keep me\n", encoding="utf-8")
    shown = []
    window.show_dialog = shown.append
    window.actions["settings"].trigger()
    editor = shown[0].model_folders
    assert editor.add(drop) and editor.add(keep)
    config.write_text(config.read_text(encoding="utf-8") + "# trailing note\n",
                      encoding="utf-8")
    editor.refresh()
    assert "dropped.safetensors" in list_models("checkpoints")
    assert not editor.remove_button.isEnabled()  # nothing selected yet
    assert not editor.remove()
    removed = []
    editor.removed.connect(removed.append)
    editor.folders.setCurrentRow(0)
    assert editor.remove_button.isEnabled()
    editor.remove_button.click()
    assert removed == [str(drop)]
    text = config.read_text(encoding="utf-8")
    assert str(drop) not in text and str(keep) in text
    assert text.startswith("# hand-written: keep me\n") and text.endswith("# trailing note\n")
    assert editor.folders.count() == 1 and str(keep) in editor.folders.item(0).text()
    assert "dropped.safetensors" not in list_models("checkpoints")
    assert "kept.safetensors" in list_models("checkpoints")
    assert editor.problem.isHidden()


def test_a_folder_the_dialog_cannot_remove_is_named_and_the_file_kept(window, config, qtbot):
    from app.gui.model_folders import ModelFoldersEditor

    config.parent.mkdir(parents=True)
    config.write_text('extra = [{path = "/a", layout = "a1111"}]\n')
    editor = ModelFoldersEditor()
    qtbot.addWidget(editor)
    editor.folders.setCurrentRow(0)
    assert not editor.remove()
    assert not editor.problem.isHidden() and "by hand" in editor.problem.text()
    assert config.read_text() == 'extra = [{path = "/a", layout = "a1111"}]\n'
