"""An image picked by hand in the window's dialog is adopted into the input folder; a
workflow naming the same file by its path is still refused."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from app.engine.picked_images import adopt_picked_image
from nodes._images import find_image
from pipelines.loading.file_policy import FileRefused


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    inputs, outside = tmp_path / "input", tmp_path / "downloads"
    outside.mkdir()
    monkeypatch.setenv("STUDIO_INPUT", str(inputs))
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("STUDIO_ALLOW_PATHS", raising=False)
    return inputs, outside


def picture(path, colour="red"):
    Image.new("RGB", (4, 4), colour).save(path)
    return path


def test_a_picked_image_outside_the_folders_is_copied_in(folders):
    inputs, outside = folders
    cat = picture(outside / "cat.png")
    with pytest.raises(FileRefused, match="outside the folders"):
        find_image(str(cat))  # what a workflow naming it gets
    name = adopt_picked_image(cat)
    assert name == "cat.png"
    assert (inputs / "cat.png").read_bytes() == cat.read_bytes()
    assert find_image(name) == inputs / "cat.png"
    assert adopt_picked_image(cat) == "cat.png"  # the same bytes again: reused, no copy
    assert sorted(p.name for p in inputs.iterdir()) == ["cat.png"]


def test_a_different_file_of_the_same_name_never_overwrites(folders):
    inputs, outside = folders
    inputs.mkdir()
    picture(inputs / "cat.png", "blue")
    before = (inputs / "cat.png").read_bytes()
    name = adopt_picked_image(picture(outside / "cat.png", "red"))
    assert name.startswith("cat-") and name.endswith(".png")
    assert (inputs / "cat.png").read_bytes() == before
    assert (inputs / name).read_bytes() == (outside / "cat.png").read_bytes()
    assert adopt_picked_image(outside / "cat.png") == name


def test_images_already_in_the_folders_are_named_not_copied(folders, tmp_path):
    inputs, _ = folders
    (inputs / "sub").mkdir(parents=True)
    inside = picture(inputs / "sub" / "dog.png")
    assert adopt_picked_image(inside) == "sub/dog.png"
    out = tmp_path / "out"
    out.mkdir()
    saved = picture(out / "studio_00001.png")
    assert adopt_picked_image(saved, output_dir=out) == str(saved)
    assert sorted(p.name for p in inputs.rglob("*.png")) == ["dog.png"]


def test_a_picked_fifo_is_refused(folders):
    _, outside = folders
    os.mkfifo(outside / "pipe.png")
    with pytest.raises(FileRefused, match="FIFO"):
        adopt_picked_image(outside / "pipe.png")
