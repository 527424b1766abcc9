"""A model folder picked in the settings: appended to models.toml (comments kept), its files
then found and loaded like any model folder's, under the same confinement rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.loading.file_policy import ALLOW_ENV, FileRefused
from pipelines.loading.folder_config import detect_layout, with_extra_folder
from pipelines.loading.folders import ModelFolderConfigError, extra_roots, resolve, roots


@pytest.fixture()
def config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(ALLOW_ENV, "")  # only the model folders: confinement is under test
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "user"))
    path = tmp_path / "models.toml"
    path.write_text("# my folders\n[[extra]]\npath = \"/nowhere/ComfyUI/models\"\n")
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(path))
    return path


def _model(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return path


def test_a_picked_flat_folder_becomes_a_model_root(tmp_path, config):
    picked = tmp_path / "big disk" / "sd models ü"
    model = _model(picked / "dreamy.safetensors")
    with pytest.raises(FileNotFoundError):
        resolve("dreamy.safetensors", "checkpoints")  # not yet
    assert detect_layout(picked) == "flat"
    config.write_text(with_extra_folder(config.read_text(), picked, "flat"), encoding="utf-8")
    assert config.read_text(encoding="utf-8").startswith("# my folders\n")  # kept
    assert picked in roots("checkpoints") and picked not in roots("loras")
    assert resolve("dreamy.safetensors", "checkpoints") == model
    assert resolve(str(model), "checkpoints") == model  # by full path too


def test_the_same_confinement_rules_hold_inside_it(tmp_path, config):
    picked = tmp_path / "picked"
    secret = _model(tmp_path / "elsewhere" / "secret.safetensors")
    _model(picked / "ok.safetensors")
    os.symlink(secret, picked / "escape.safetensors")
    config.write_text(with_extra_folder(config.read_text(), picked, "flat"))
    assert resolve("ok.safetensors", "checkpoints").name == "ok.safetensors"
    with pytest.raises(FileRefused, match="outside the folders"):
        resolve("escape.safetensors", "checkpoints")
    with pytest.raises(FileRefused):
        resolve(str(picked / ".." / "elsewhere" / "secret.safetensors"), "checkpoints")


def test_layouts_are_read_off_the_folder(tmp_path, config):
    comfy, a1111 = tmp_path / "ComfyUI" / "models", tmp_path / "webui"
    _model(comfy / "loras" / "detail.safetensors")
    _model(a1111 / "models" / "Stable-diffusion" / "base.safetensors")
    assert detect_layout(comfy) == "comfyui" and detect_layout(a1111) == "a1111"
    text = with_extra_folder(config.read_text(), comfy, "comfyui")
    config.write_text(with_extra_folder(text, a1111, "a1111"))
    assert comfy / "loras" in extra_roots("loras")
    assert a1111 / "models" / "Stable-diffusion" in extra_roots("checkpoints")
    assert resolve("detail.safetensors", "loras").name == "detail.safetensors"


def test_refusals_are_one_line_and_leave_the_file_alone(tmp_path, config):
    picked = tmp_path / "picked"
    picked.mkdir()
    once = with_extra_folder(config.read_text(), picked, "flat")
    with pytest.raises(ModelFolderConfigError, match="already in"):
        with_extra_folder(once, picked, "flat")
    with pytest.raises(ModelFolderConfigError, match="not a folder"):
        with_extra_folder(once, tmp_path / "missing", "flat")
    with pytest.raises(ModelFolderConfigError, match="not valid TOML"):
        with_extra_folder("[[extra]\n", picked, "flat")
    with pytest.raises(ModelFolderConfigError, match="kind"):
        with_extra_folder("", picked, "flat", kind="../../etc")
    config.write_text("[[extra]]\npath = \"/x\"\nlayout = \"flat\"\nkind = \"nope\"\n")
    with pytest.raises(ModelFolderConfigError, match="entry 1: kind must be"):
        roots("checkpoints")


KEPT = """# my folders: read by the window and the command line
[[extra]]
path = "/nowhere/ComfyUI/models"

# the old drive, going away
[[extra]]
path = "/media/old"  # unplugged soon
layout = "flat"
kind = "loras"
# after it: stays

[[extra]]
path = "/srv/a1111"
layout = "a1111"
"""


def test_removing_a_folder_takes_only_its_lines():
    from pipelines.loading.folder_config import without_extra_folder
    from pipelines.loading.folders import extra_entries

    updated = without_extra_folder(KEPT, "/media/old")
    assert [e["path"] for e in extra_entries(updated)] == ["/nowhere/ComfyUI/models",
                                                           "/srv/a1111"]
    assert "unplugged" not in updated and "kind" not in updated
    for comment in ("# my folders", "# the old drive", "# after it: stays"):
        assert comment in updated
    assert updated.startswith("# my folders: read by the window and the command line\n"
                              "[[extra]]\npath = \"/nowhere/ComfyUI/models\"\n")
    first = without_extra_folder(KEPT, "/nowhere/ComfyUI/models")
    assert first.startswith("# my folders: read by the window and the command line\n\n"
                            "# the old drive")
    last = without_extra_folder(KEPT, "/srv/a1111")
    assert last.endswith("# after it: stays\n")
    assert [e["path"] for e in extra_entries(last)] == ["/nowhere/ComfyUI/models", "/media/old"]


def test_an_added_folder_removes_cleanly(tmp_path, config):
    from pipelines.loading.folder_config import without_extra_folder

    picked = tmp_path / "picked"
    picked.mkdir()
    original = config.read_text()
    added = with_extra_folder(original, picked, "flat")
    assert without_extra_folder(added, str(picked)) == original


@pytest.mark.parametrize(("text", "why"), [
    ('extra = [{path = "/a"}, {path = "/b"}]\n', "cannot be edited here"),
    ('[[extra]]\npath = "/a"\n', "not in"),
    ('[[extra]\npath = "/b"\n', "not valid TOML"),
    ('[[extra]]\npath = "/a"\nnote = """\n[[extra]]\n"""\n[[extra]]\npath = "/b"\n',
     "cannot be edited here"),
])
def test_what_cannot_be_removed_is_named_and_the_text_is_kept(text, why):
    from pipelines.loading.folder_config import without_extra_folder

    with pytest.raises(ModelFolderConfigError, match=why):
        without_extra_folder(text, "/b")
