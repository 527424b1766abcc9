"""Opening a ComfyUI workflow with nodes we cannot map: the rest opens, each gets a stand-in."""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings

from app.engine.registry import default_registry
from app.gui.main_window import MainWindow
from tests.interop import comfy_docs


def test_unmappable_comfy_nodes_open_as_placeholders(qtbot, tmp_path):
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "PhotoMakerLoader", "inputs": {"photomaker_model_name": "pm.bin"}}
    path = tmp_path / "comfy.json"
    path.write_text(json.dumps(doc))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=default_registry(), settings=settings, data_dir=tmp_path / "data",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    qtbot.addWidget(win)
    assert win.open_file(path)
    graph = win.document.graph
    assert graph.nodes["10"].type == "comfyui/PhotoMakerLoader"
    view = win.canvas.view_node("10")
    assert view is not None and "missing: comfyui/PhotoMakerLoader" in view.view.name
    assert not view.inputs() and not view.outputs()
    # the mapped part of the graph is all there, with its links
    assert win.canvas.view_node("3") is not None and len(graph.edges) >= 8
    # nothing needs it: muted, and the message panel names it in one line
    assert graph.nodes["10"].mode == "mute"
    assert any("node #10 (PhotoMakerLoader) cannot be mapped" in t
               for t in win.messages.texts())


def test_a_group_node_workflow_opens_on_the_canvas_with_its_inner_nodes(qtbot, tmp_path):
    from tests.interop import comfy_group_docs

    path = tmp_path / "grouped.json"
    path.write_text(json.dumps(comfy_group_docs.grouped()))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=default_registry(), settings=settings, data_dir=tmp_path / "data",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    qtbot.addWidget(win)
    assert win.open_file(path)
    for node_id in ("12:0", "12:1", "13:0", "13:1"):
        assert win.canvas.view_node(node_id) is not None
    assert win.document.graph.incoming("9")["image"].source == "12:1"
