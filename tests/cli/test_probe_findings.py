"""What the second hostile-input probe found (issue 18): each was a traceback, a hang or a
wrong answer before its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.cli.main import main
from pipelines.errors import ModelLoadError
from pipelines.families.registry import folder_family
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.model_defaults import _find

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "resources" / "workflows" / "default.json"


@pytest.fixture()
def models(tmp_path, monkeypatch):
    user = tmp_path / "models"
    (user / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("STUDIO_MODELS", str(user))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    return user / "checkpoints"


def folder(models, index: str | None = None, studio: str | None = None) -> Path:
    model = models / "d"
    model.mkdir()
    (model / "model_index.json").write_text(index or '{"_class_name": "StableDiffusionPipeline"}')
    if studio is not None:
        (model / "studio.json").write_text(studio)
    return model


@pytest.mark.parametrize(("index", "studio"), [
    ("[" * 5000 + "]" * 5000, None),
    (None, "[" * 5000 + "]" * 5000),
    (None, "[1, 2]"),
])
def test_deep_or_odd_folder_json_is_unreadable_not_a_crash(models, capsys, index, studio):
    model = folder(models, index, studio)
    if studio is None:
        assert folder_family(model) == "unknown"
    else:  # a damaged studio.json is named, never guessed past
        with pytest.raises(ModelLoadError, match="studio.json"):
            folder_family(model)
    assert _find(model) is None or _find(model).family == ""
    assert main(["models"]) == 0
    assert "d " in capsys.readouterr().out
    with pytest.raises(ModelLoadError) as info:
        load_checkpoint(model)
    assert "model_index.json" in str(info.value) or "studio.json" in str(info.value)


def test_a_fifo_as_model_index_does_not_block(models):
    model = models / "d"
    model.mkdir()
    os.mkfifo(model / "model_index.json")
    assert folder_family(model) == "unknown"
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_checkpoint(model)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_export_never_replaces_a_folder_or_fifo(tmp_path, capsys, kind):
    target = tmp_path / "target"
    target.mkdir() if kind == "folder" else os.mkfifo(target)
    assert main(["export", str(DEFAULT), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "not a file to write" in err
    assert target.is_dir() if kind == "folder" else target.is_fifo()


def test_export_still_replaces_a_file(tmp_path, capsys):
    target = tmp_path / "api.json"
    target.write_text("old")
    assert main(["export", str(DEFAULT), "-o", str(target)]) == 0
    assert "KSampler" in json.dumps(json.loads(target.read_text()))
