"""Files a workflow names stay inside the configured folders, and only regular files are read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.errors import ModelLoadError
from pipelines.loading.embeddings import EmbeddingError, find
from pipelines.loading.file_policy import ALLOW_ENV, FileRefused
from pipelines.loading.folders import resolve

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture()
def folders(tmp_path, monkeypatch) -> Path:
    """Model folders, an input folder, and a secret folder outside all of them."""
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("STUDIO_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv(ALLOW_ENV, "")
    for sub in ("models/loras", "models/checkpoints", "models/embeddings", "input", "secret"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "secret" / "x.safetensors").write_bytes(b"secret")
    (tmp_path / "secret" / "x.png").write_bytes(b"secret")
    (tmp_path / "models" / "checkpoints" / "ok.safetensors").write_bytes(b"model")
    return tmp_path


def test_models_by_name_and_path_inside_the_folders(folders):
    ok = folders / "models" / "checkpoints" / "ok.safetensors"
    assert resolve("ok.safetensors", "checkpoints") == ok.parent / "ok.safetensors"
    assert resolve(str(ok), "loras") == ok  # a full path inside any model folder
    link = folders / "models" / "loras" / "shared.safetensors"
    link.symlink_to(ok)  # a link into another model folder is fine
    assert resolve("shared.safetensors", "loras") == link


@pytest.mark.parametrize("name", ["{secret}/x.safetensors", "../../secret/x.safetensors",
                                  "../checkpoints/../../secret/x.safetensors"])
def test_models_outside_the_folders_are_refused(folders, name):
    with pytest.raises(FileRefused, match="outside the folders a workflow may read"):
        resolve(name.format(secret=folders / "secret"), "loras")


def test_a_symlink_leading_out_of_the_folders_is_refused(folders):
    (folders / "models" / "loras" / "evil.safetensors").symlink_to(
        folders / "secret" / "x.safetensors")
    with pytest.raises(FileRefused, match=r"resolves to .*secret/x.safetensors, outside"):
        resolve("evil.safetensors", "loras")


def test_allow_paths_admit_a_folder_kept_elsewhere(folders, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, str(folders / "secret"))
    assert resolve(str(folders / "secret" / "x.safetensors"), "checkpoints").is_file()


def test_an_empty_checkpoint_name_is_not_the_current_folder(folders):
    for name in ("", "  "):
        with pytest.raises(FileRefused, match="no checkpoints model chosen"):
            resolve(name, "checkpoints")


@needs_fifo
def test_a_fifo_named_like_a_model_is_refused_without_blocking(folders):
    fifo = folders / "models" / "loras" / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"is a FIFO \(named pipe\)"):
        resolve("pipe.safetensors", "loras")
    from pipelines.loading.detect import read_header
    from pipelines.loading.readers import read_state_dict

    for read in (read_header, read_state_dict):
        with pytest.raises(ModelLoadError, match="FIFO"):
            read(fifo)


@pytest.mark.parametrize("name", ["{secret}/x.safetensors", "../../secret/x", "~/x", ""])
def test_embeddings_are_names_inside_the_embeddings_folders(folders, name):
    with pytest.raises(EmbeddingError, match="not a path leading out"):
        find(name.format(secret=folders / "secret"))


def test_an_embedding_symlink_leading_out_is_refused(folders):
    (folders / "models" / "embeddings" / "e.safetensors").symlink_to(
        folders / "secret" / "x.safetensors")
    with pytest.raises(EmbeddingError, match="outside the embeddings folder"):
        find("e")


def test_images_from_input_output_and_allowed_folders_only(folders):
    from nodes._images import find_image

    (folders / "input" / "in.png").write_bytes(b"png")
    assert find_image("in.png") == folders / "input" / "in.png"  # relative: the input folder
    out = folders / "out"
    out.mkdir()
    (out / "studio_00001.png").write_bytes(b"png")
    assert find_image(str(out / "studio_00001.png"), out).is_file()
    with pytest.raises(FileRefused, match="outside"):
        find_image(str(out / "studio_00001.png"))  # not this run's output folder
    for name in (str(folders / "secret" / "x.png"), "../secret/x.png"):
        with pytest.raises(FileRefused, match="outside"):
            find_image(name)
    with pytest.raises(FileNotFoundError, match="no image chosen"):
        find_image("")


@needs_fifo
def test_an_image_that_is_a_fifo_or_too_big_is_refused(folders, monkeypatch):
    import nodes._images as images

    os.mkfifo(folders / "input" / "pipe.png")
    with pytest.raises(FileRefused, match="FIFO"):
        images.find_image("pipe.png")
    (folders / "input" / "big.png").write_bytes(b"x" * (3 << 20))
    monkeypatch.setattr(images, "IMAGE_MAX_BYTES", 2 << 20)
    with pytest.raises(FileRefused, match="3 MB, over the limit of 2 MB"):
        images.find_image("big.png")


def test_the_save_prefix_cannot_leave_the_output_folder(tmp_path):
    import torch

    from nodes._images import save

    out = tmp_path / "deep" / "out"
    for prefix in ("../../escape", "/tmp/abs", "..", "a/../../b"):
        (path,) = save(torch.zeros(1, 4, 4, 3), out, prefix, None)
        assert path.parent == out
    assert sorted(p.name for p in out.iterdir()) == [
        "ab_00001.png", "escape_00001.png", "image_00001.png", "tmpabs_00001.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["deep"]


@needs_fifo
def test_a_workflow_that_is_a_folder_or_fifo_says_so(tmp_path):
    from app.engine.workflow import WorkflowError
    from app.interop.open import open_workflow

    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(WorkflowError, match=r"pipe.json: is a FIFO \(named pipe\), not a"):
        open_workflow(tmp_path / "pipe.json")
    with pytest.raises(WorkflowError, match="is a folder, not a workflow file"):
        open_workflow(tmp_path)
    with pytest.raises(WorkflowError, match="no such file"):
        open_workflow(tmp_path / "missing.json")


def test_a_truncated_pickle_is_not_called_code(tmp_path):
    import torch

    from pipelines.loading.readers import read_state_dict

    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(64)}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="truncated or damaged") as info:
        read_state_dict(cut)
    assert "run code" not in str(info.value)
    evil = tmp_path / "evil.pt"
    torch.save({"w": os.getcwd}, evil)  # a pickled function: would run code
    with pytest.raises(ModelLoadError, match="could run code"):
        read_state_dict(evil)


def test_a_fake_vae_is_not_a_vae_of_a_known_layout(tmp_path):
    import torch
    from safetensors.torch import save_file

    from pipelines.loading.checkpoint import load_vae

    fake = tmp_path / "fake.safetensors"
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(fake))
    with pytest.raises(ModelLoadError, match="Not a VAE of a known layout") as info:
        load_vae(fake)
    assert str(fake) in str(info.value)
