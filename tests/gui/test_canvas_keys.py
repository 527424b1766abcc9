"""Keys on the canvas: one undo stack and one shortcut, wherever the focus is."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

from tests.gui.conftest import assert_canvas_matches, build_chain


def _focus_canvas(window, qtbot):
    window.activateWindow()
    qtbot.waitActive(window)
    viewer = window.canvas.graph_view.viewer()
    viewer.setFocus()
    qtbot.waitUntil(viewer.hasFocus, timeout=2000)
    return viewer


def test_ctrl_z_and_ctrl_shift_z_on_the_focused_canvas(window, qtbot):
    ids = build_chain(window)
    viewer = _focus_canvas(window, qtbot)
    graph = window.document.graph.copy()
    window.document.remove_nodes([ids["save"]])
    qtbot.keyClick(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.graph == graph
    assert_canvas_matches(window)
    qtbot.keyClick(viewer, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ids["save"] not in window.document.graph.nodes
    assert_canvas_matches(window)


def test_ctrl_z_from_the_node_list(window, qtbot):
    window.canvas.add_node("toy.const", (0, 0))
    window.activateWindow()
    qtbot.waitActive(window)
    window.node_list.tree.setFocus()
    qtbot.keyClick(window.node_list.tree, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.document.graph.nodes


def test_only_one_action_holds_each_edit_key(window):
    keys = {QKeySequence("Ctrl+Z"), QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")}
    holders = [a for w in window.findChildren(QWidget) + [window] for a in QWidget.actions(w)
               if any(s in keys for s in a.shortcuts())]
    holders = list({id(a): a for a in holders}.values())
    assert sorted(a.text() for a in holders) == ["&Redo", "&Undo"]
    ids = build_chain(window)  # nothing we do lands on NodeGraphQt's own stack either
    window.canvas.select([ids["render"]])
    window.actions["duplicate"].trigger()
    window.document.set_title(ids["render"], "Renamed")
    window.actions["undo"].trigger()
    window.document.move_nodes({ids["const"]: (5.0, 5.0)})
    assert window.canvas.graph_view.undo_stack().count() == 0
