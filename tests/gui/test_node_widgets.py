"""Value editors inside the canvas nodes: the same edits as the properties panel, both ways."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.conftest import build_chain


def test_editing_in_the_node_is_one_undoable_edit_shown_in_the_panel(window):
    node_id = window.canvas.add_node("toy.render", (0, 0))
    window.canvas.select([node_id])
    in_node = window.canvas.node_values(node_id).editors
    panel = window.properties.editors
    theirs = window.canvas.graph_view.undo_stack().count()
    assert (in_node["steps"].field.minimum(), in_node["steps"].field.maximum()) == (1, 500)
    in_node["steps"].field.setValue(12)
    assert window.document.graph.nodes[node_id].values["steps"] == 12
    assert panel["steps"].field.value() == 12
    panel["steps"].field.setValue(30)  # the same field from the panel: the same undo step
    assert in_node["steps"].field.value() == 30
    assert window.canvas.graph_view.undo_stack().count() == theirs  # not NodeGraphQt's stack
    window.actions["undo"].trigger()
    assert window.document.graph.nodes[node_id].values["steps"] == 4
    panel = window.properties.editors  # rebuilt on undo
    assert in_node["steps"].field.value() == 4 and panel["steps"].field.value() == 4
    window.actions["redo"].trigger()
    panel = window.properties.editors
    assert in_node["steps"].field.value() == 30 and panel["steps"].field.value() == 30


def test_editing_in_the_panel_updates_the_node_without_echo(window):
    node_id = window.canvas.add_node("toy.text", (0, 0))
    window.canvas.select([node_id])
    in_node = window.canvas.node_values(node_id).editors
    assert type(in_node["text"].field).__name__ == "QPlainTextEdit"
    assert type(in_node["loud"].field).__name__ == "QCheckBox"
    assert in_node["mood"].field.count() == 2
    changes: list[tuple[str, object]] = []
    window.document.changed.connect(lambda kind, gid: changes.append((kind, gid)))
    window.properties.editors["text"].field.setPlainText("a red fox")
    assert in_node["text"].field.toPlainText() == "a red fox"
    in_node["loud"].field.setChecked(True)
    in_node["mood"].field.setCurrentText("wild")
    assert window.properties.editors["loud"].field.isChecked()
    assert window.properties.editors["mood"].field.currentText() == "wild"
    assert window.document.graph.nodes[node_id].values == {
        "text": "a red fox", "loud": True, "mood": "wild"}
    assert changes == [("value", node_id)] * 3  # one change per edit, nothing echoed back


def test_keys_typed_in_a_node_field_stay_in_the_field(window, qtbot):
    ids = build_chain(window)
    window.canvas.graph_view.center_on()
    window.activateWindow()
    qtbot.waitActive(window)
    field = window.canvas.node_values(ids["save"]).editors["prefix"].field
    proxy = window.canvas.node_values(ids["save"])
    viewer = window.canvas.graph_view.viewer()
    viewer.setFocus()
    proxy.setFocus()
    field.setFocus()
    field.end(False)
    qtbot.keyClick(viewer, Qt.Key.Key_Backspace)  # also the canvas's Delete shortcut
    qtbot.keyClick(viewer, Qt.Key.Key_F)  # also Frame All
    assert ids["save"] in window.document.graph.nodes
    assert window.document.graph.nodes[ids["save"]].values["prefix"] == "tof"
