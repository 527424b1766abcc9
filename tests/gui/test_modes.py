"""Bypass and mute from the window: keys, node menu, one undo step, drawing, paste, save."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.engine.graph import BYPASS, MUTE, NORMAL
from app.interop.open import open_workflow
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain, drag_link


def _focus_canvas(window, qtbot):
    window.activateWindow()
    qtbot.waitActive(window)
    viewer = window.canvas.graph_view.viewer()
    viewer.setFocus()
    qtbot.waitUntil(viewer.hasFocus, timeout=2000)
    return viewer


def _modes(window) -> dict[str, str]:
    return {i: n.mode for i, n in window.document.graph.nodes.items()}


def test_ctrl_b_and_ctrl_m_toggle_the_selection_as_one_undo_step(window, qtbot):
    ids = build_chain(window)
    viewer = _focus_canvas(window, qtbot)
    window.canvas.select([ids["const"], ids["render"]])
    qtbot.keyClick(viewer, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert _modes(window) == {ids["const"]: BYPASS, ids["render"]: BYPASS, ids["save"]: NORMAL}
    item = window.canvas.view_node(ids["render"]).view
    assert item.mode == BYPASS and item.opacity() == 1.0
    assert_canvas_matches(window)
    qtbot.keyClick(viewer, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert _modes(window)[ids["render"]] == MUTE
    assert item.mode == MUTE and item.opacity() < 1.0  # greyed out
    qtbot.keyClick(viewer, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert _modes(window)[ids["render"]] == NORMAL  # all muted: back to normal
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert _modes(window)[ids["render"]] == MUTE and _modes(window)[ids["const"]] == MUTE
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    window.actions["undo"].trigger()  # one step per toggle, both nodes at once
    assert set(_modes(window).values()) == {NORMAL}
    assert window.canvas.view_node(ids["render"]).view.mode == NORMAL
    assert_canvas_matches(window)


def test_node_menu_bypass_and_mute_entries(window, qtbot):
    ids = build_chain(window)
    menu = window.menus._node_menu(ids["render"])
    texts = {a.text().split("\t")[0]: a for a in menu.actions() if not a.isSeparator()}
    assert not texts["Bypass"].isChecked()
    texts["Bypass"].trigger()
    assert window.document.graph.nodes[ids["render"]].mode == BYPASS
    menu = window.menus._node_menu(ids["render"])
    texts = {a.text().split("\t")[0]: a for a in menu.actions() if not a.isSeparator()}
    assert texts["Bypass"].isChecked()
    texts["Mute"].trigger()
    assert window.document.graph.nodes[ids["render"]].mode == MUTE
    assert_canvas_matches(window)


def test_modes_survive_copy_paste_duplicate_and_save(window, qtbot, tmp_path):
    ids = build_chain(window)
    window.canvas.select([ids["render"]])
    window.canvas.toggle_mode("bypass")
    window.clipboard.duplicate()
    (dup,) = window.canvas.selected_ids()
    assert window.document.graph.nodes[dup].mode == BYPASS
    window.canvas.select([ids["const"]])
    window.canvas.toggle_mode("mute")
    window.clipboard.copy()
    window.clipboard.paste(at=(0, 300))
    (pasted,) = window.canvas.selected_ids()
    assert window.document.graph.nodes[pasted].mode == MUTE
    assert_canvas_matches(window)
    path = tmp_path / "modes.json"
    assert window.files.save(path)
    assert open_workflow(path).nodes[ids["render"]].mode == BYPASS
    window.new_file()
    assert window.open_file(path)
    assert window.canvas.view_node(pasted).view.mode == MUTE
    assert_canvas_matches(window)


def test_a_muted_output_does_not_run(window, qtbot):
    ids = build_chain(window)
    window.canvas.select([ids["save"]])
    window.canvas.toggle_mode("mute")
    window.document.add_node("toy.show", (500, 200))
    show = max(window.document.graph.nodes, key=int)
    drag_link(window, ids["render"], "image", show, "image")
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert not list((window.output_dir).glob("*.png"))  # the muted Save wrote nothing
    assert window.canvas.state_of(show)[0] == "done"


def test_the_mode_label_covers_no_value_editor(window, qtbot):
    """Found in a real X11 window: "bypassed" was drawn over the bottom of the node's last
    value editor."""
    const = window.canvas.add_node("toy.const", (0, 0))
    window.canvas.select([const])
    window.canvas.toggle_mode("bypass")
    item = window.canvas.view_node(const).view
    label = item.mode_label
    assert label.text() == "bypassed" and label.isVisible()
    drawn = label.mapRectToParent(label.boundingRect())
    assert drawn.bottom() <= item.boundingRect().top()  # above the node, not on its editors
    assert drawn.right() <= item.boundingRect().right()
    window.canvas.toggle_mode("bypass")
    assert label.text() == ""
    window.canvas.toggle_mode("mute")
    assert label.text() == "muted"
