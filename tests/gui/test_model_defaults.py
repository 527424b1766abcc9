"""New nodes take the loaded model's size and cfg; far-off sizes are warned about."""

from __future__ import annotations

import json
import struct

import pytest
from PySide6.QtCore import QSettings

from app.engine.registry import default_registry
from app.gui.files import DEFAULT_WORKFLOW
from app.gui.main_window import MainWindow
from pipelines.loading.folders import resolve
from pipelines.loading.model_defaults import model_defaults


@pytest.fixture()
def studio(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=default_registry(), settings=settings, data_dir=tmp_path / "d",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    win.ask_save = lambda: "discard"
    qtbot.addWidget(win)
    return win


def _fake_sdxl(path):
    header = {"model.diffusion_model.input_blocks.0.0.weight": [320, 4, 3, 3],
              "model.diffusion_model.label_emb.0.0.weight": [1280, 2816],
              "conditioner.embedders.1.model.ln_final.weight": [1280]}
    raw = json.dumps({k: {"dtype": "F16", "shape": s, "data_offsets": [0, 0]}
                      for k, s in header.items()}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


def test_model_defaults_of_the_demo_model_and_a_family():
    demo = model_defaults(resolve("demo", "checkpoints"))
    assert (demo.family, demo.size, demo.cfg) == ("demo", 64, 2.5)


def test_model_defaults_from_a_checkpoint_header(tmp_path):
    sdxl = model_defaults(_fake_sdxl(tmp_path / "xl.safetensors"))
    assert (sdxl.family, sdxl.size) == ("sdxl", 1024)
    assert model_defaults(tmp_path / "missing.safetensors") is None


def test_new_nodes_follow_the_loaded_model(studio):
    assert studio.files.open(DEFAULT_WORKFLOW)  # loads the built-in 64 px demo model
    latent = studio.canvas.add_node("latent.empty", (0, 600))
    sampler = studio.canvas.add_node("sampling.sampler", (300, 600))
    assert studio.document.graph.nodes[latent].values["width"] == 64
    assert studio.document.graph.nodes[latent].values["height"] == 64
    assert studio.document.graph.nodes[sampler].values["cfg"] == 2.5
    upscale = studio.canvas.add_node("image.upscale", (0, 800))
    assert studio.document.graph.nodes[upscale].values["width"] == 0  # 0 = keep: untouched
    studio.new_file()  # no checkpoint loader: the declared defaults
    latent = studio.canvas.add_node("latent.empty", (0, 0))
    assert studio.document.graph.nodes[latent].values["width"] == 512


def test_a_size_far_from_the_model_is_warned_about_once(studio):
    assert studio.files.open(DEFAULT_WORKFLOW)
    latent = next(n.id for n in studio.document.graph.nodes.values() if n.type == "latent.empty")
    assert not studio.size_advice.check(None)  # the default workflow is fine
    before = len(studio.messages.texts())
    studio.document.set_value(latent, "width", 512)
    studio.document.set_value(latent, "batch_size", 2)  # same size: not said again
    warnings = studio.messages.texts()[before:]
    assert len(warnings) == 1
    assert "512x64" in warnings[0] and "64 px" in warnings[0] and "demo" in warnings[0]
    assert len(studio.size_advice.check(None)) == 1  # and again when a run starts
