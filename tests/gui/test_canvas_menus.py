"""Right-click menus on the canvas, nodes and ports (ours, not NodeGraphQt's)."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent, QPixmap
from PySide6.QtWidgets import QApplication

from app.engine.graph import Edge
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain, drag_link


def _texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def _action(menu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


def _right_click(window, qtbot, scene_point: QPointF):
    """A real right button press/release, then the context-menu event Qt sends after it."""
    shown = []
    window.menus.open_menu = lambda menu, pos: shown.append(menu)
    viewer = window.canvas.graph_view.viewer()
    pos = viewer.mapFromScene(scene_point)
    links = window.canvas._view_links()
    qtbot.mousePress(viewer.viewport(), Qt.MouseButton.RightButton, pos=pos)
    # X11 opens the menu on the press: nothing may be picked up before it
    assert not viewer._LIVE_PIPE.isVisible()
    assert window.canvas._view_links() == links
    qtbot.mouseRelease(viewer.viewport(), Qt.MouseButton.RightButton, pos=pos)
    if not shown:  # platforms that do not synthesise it from the mouse
        event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                  viewer.viewport().mapToGlobal(pos))
        QApplication.sendEvent(viewer.viewport(), event)
    assert len(shown) == 1
    return shown[0]


def _port_centre(window, node_id, name, output):
    node = window.canvas.view_node(node_id)
    return (node.outputs() if output else node.inputs())[name].view.sceneBoundingRect().center()


def _prepare(window, qtbot):
    window.canvas.graph_view.center_on()
    qtbot.wait(20)


def test_empty_canvas_menu(window, qtbot):
    ids = build_chain(window)
    _prepare(window, qtbot)
    menu = _right_click(window, qtbot, QPointF(-400, -400))
    assert _texts(menu) == ["Add Node…", "Paste", "Add Reroute", "Add Group", "Select All",
                           "Fit View"]
    assert not _action(menu, "Paste").isEnabled()  # nothing copied yet
    _action(menu, "Select All").trigger()
    assert sorted(window.canvas.selected_ids()) == sorted(ids.values())
    window.canvas.select([ids["const"]])
    window.clipboard.copy()
    menu = window.menus.build(QPointF(-400, -400))
    assert _action(menu, "Paste").isEnabled()
    _action(menu, "Paste").trigger()
    (new,) = window.canvas.selected_ids()
    assert window.document.graph.nodes[new].position == (-400.0, -400.0)


def test_right_click_on_a_linked_input_keeps_the_link_and_offers_disconnect(window, qtbot):
    ids = build_chain(window)
    _prepare(window, qtbot)
    edges = list(window.document.graph.edges)
    menu = _right_click(window, qtbot, _port_centre(window, ids["render"], "x", False))
    assert window.document.graph.edges == edges  # not picked up
    assert_canvas_matches(window)
    assert "Undo" not in " ".join(_texts(menu))
    assert _texts(menu) == ["input 'x'", "Disconnect", "Add Node For This Port"]
    _action(menu, "Disconnect").trigger()
    assert Edge(ids["const"], "out", ids["render"], "x") not in window.document.graph.edges
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert window.document.graph.edges == edges
    # an output with two links disconnects both
    other = window.canvas.add_node("toy.render", (250, 250))
    drag_link(window, ids["const"], "out", other, "x")
    menu = window.menus.build(_port_centre(window, ids["const"], "out", True))
    _action(menu, "Disconnect All (2)").trigger()
    assert not [e for e in window.document.graph.edges if e.source == ids["const"]]


def test_node_menu(window, qtbot, tmp_path):
    ids = build_chain(window)
    _prepare(window, qtbot)
    centre = window.canvas.view_node(ids["render"]).view.sceneBoundingRect().center()
    menu = _right_click(window, qtbot, centre)
    assert window.canvas.selected_ids() == [ids["render"]]
    assert _texts(menu) == ["Run Up To Here", "Rename…", "Collapse", "Colour", "Pin",
                            "Bypass\tCtrl+B",
                            "Mute\tCtrl+M", "Convert to Input", "Convert Back",
                            "Add Group Around Selection", "Collapse to Subgraph…", "Duplicate",
                            "Delete"]
    window.menus.ask_text = lambda title, text: "My Render"
    _action(menu, "Rename…").trigger()
    assert window.document.graph.nodes[ids["render"]].title == "My Render"
    assert window.canvas.view_node(ids["render"]).view.name == "My Render"
    height = window.canvas.view_node(ids["render"]).view.boundingRect().height()
    _action(window.menus.build(centre), "Collapse").trigger()
    assert window.canvas.is_collapsed(ids["render"])
    assert window.canvas.view_node(ids["render"]).view.boundingRect().height() < height - 20
    assert "Expand" in _texts(window.menus.build(
        window.canvas.view_node(ids["render"]).view.sceneBoundingRect().center()))
    window.canvas.set_collapsed(ids["render"], False)
    window.canvas.show_preview(ids["render"], QPixmap(16, 16))
    window.canvas.set_collapsed(ids["render"], True)  # the preview follows the node's bottom
    item = window.canvas.view_node(ids["render"]).view
    assert item.preview_item.pos().y() == item.boundingRect().bottom() + 6
    window.canvas.set_collapsed(ids["render"], False)
    assert item.preview_item.pos().y() == item.boundingRect().bottom() + 6
    _action(window.menus.build(centre), "Duplicate").trigger()
    assert len(window.document.graph.nodes) == 4
    window.actions["undo"].trigger()
    _action(window.menus.build(centre), "Delete").trigger()
    assert ids["render"] not in window.document.graph.nodes
    assert_canvas_matches(window)


def test_run_up_to_here_runs_only_what_the_node_needs(window, qtbot):
    ids = build_chain(window)
    window.canvas.add_node("toy.fail", (0, 300))  # unlinked: would fail validation
    centre = window.canvas.view_node(ids["render"]).view.sceneBoundingRect().center()
    _action(window.menus.build(centre), "Run Up To Here").trigger()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    result = window.runner.last_result
    assert result.status == "ok"
    assert set(result.executed) == {ids["const"], ids["render"]}
    assert window.canvas.state_of(ids["save"])[0] == "idle"


def test_savers_offer_their_output_folder(window, qtbot):
    ids = build_chain(window)
    opened = []
    window.menus.open_folder = opened.append
    centre = window.canvas.view_node(ids["save"]).view.sceneBoundingRect().center()
    menu = window.menus.build(centre)
    assert "Open Output Folder" in _texts(menu)
    _action(menu, "Open Output Folder").trigger()
    assert opened == [] and "nothing was saved" in window.messages.texts()[-1]
    window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    _action(window.menus.build(centre), "Open Output Folder").trigger()
    assert opened == [window.output_dir]
    assert "Open Output Folder" not in _texts(window.menus.build(
        window.canvas.view_node(ids["render"]).view.sceneBoundingRect().center()))


def test_add_node_from_the_canvas_menu_lands_at_the_click(window, qtbot):
    from PySide6.QtCore import QTimer

    search = window.canvas.graph_view.viewer()._search_widget

    def choose() -> None:  # inside the search's own modal loop
        search.line_edit.setText("Render")
        search.line_edit.returnPressed.emit()

    QTimer.singleShot(100, choose)
    _action(window.menus.build(QPointF(37, 55)), "Add Node…").trigger()
    (node,) = window.document.graph.nodes.values()
    assert node.type == "toy.render"
    assert abs(node.position[0] - 37) <= 2 and abs(node.position[1] - 55) <= 2


def test_a_port_menu_adds_a_node_for_the_port(window, qtbot):
    """Issue 11 asked for port menus with disconnect and "add a node for this port"."""
    from tests.gui.test_link_drop import _all_texts, _find

    ids = build_chain(window)
    _prepare(window, qtbot)
    menu = _right_click(window, qtbot, _port_centre(window, ids["render"], "prompt", False))
    add = _action(menu, "Add Node For This Port").menu()
    texts = _all_texts(add)
    assert "Prompt" in texts and "Constant" not in texts  # only producers of a TEXT
    before = window.document.graph.copy()
    _find(add, "Prompt").trigger()
    (new,) = window.canvas.selected_ids()
    assert window.document.graph.nodes[new].type == "toy.text"
    assert Edge(new, "out", ids["render"], "prompt") in window.document.graph.edges
    render_x = window.document.graph.nodes[ids["render"]].position[0]
    assert window.document.graph.nodes[new].position[0] < render_x  # to the left of it
    assert_canvas_matches(window)
    window.actions["undo"].trigger()  # one undo step
    assert window.document.graph == before
    # an output: consumers, to the right
    menu = window.menus.build(_port_centre(window, ids["const"], "out", True))
    add = _action(menu, "Add Node For This Port").menu()
    assert "Render" in _all_texts(add) and "Prompt" not in _all_texts(add)
    _find(add, "Render").trigger()
    (new,) = window.canvas.selected_ids()
    assert Edge(ids["const"], "out", new, "x") in window.document.graph.edges
    assert window.document.graph.nodes[new].position[0] > \
        window.document.graph.nodes[ids["const"]].position[0]


def test_node_colour_and_pin_from_the_node_menu(window, qtbot, tmp_path):
    """Issue 11 asked for colour and pin in the node menu: each one undo step, drawn on the
    canvas, saved in the workflow; a pinned node is not moved by dragging."""
    from app.gui.groups import COLOURS
    from tests.gui.test_canvas_mouse import _drag

    ids = build_chain(window)
    _prepare(window, qtbot)
    render = ids["render"]
    item = window.canvas.view_node(render).view
    category = tuple(item.color)
    centre = item.sceneBoundingRect().center()
    colours = _action(_right_click(window, qtbot, centre), "Colour").menu()
    assert [a.text() for a in colours.actions()] == ["Default", *COLOURS]
    _action(colours, "Red").trigger()
    assert window.document.graph.nodes[render].colour == COLOURS["Red"]
    assert tuple(item.color[:3]) == (0x7a, 0x3f, 0x3f)
    window.actions["undo"].trigger()
    assert window.document.graph.nodes[render].colour is None and tuple(item.color) == category
    window.actions["redo"].trigger()
    _action(window.menus.build(centre), "Pin").trigger()
    assert window.document.graph.nodes[render].pinned
    assert _action(window.menus.build(centre), "Pin").isChecked()
    viewport = window.canvas.graph_view.viewer().viewport()
    title = window.canvas.graph_view.viewer().mapFromScene(item.sceneBoundingRect().topLeft())
    start = title + QPoint(40, 8)
    before = window.document.graph.nodes[render].position
    _drag(viewport, start, start + QPoint(120, 90))
    assert window.document.graph.nodes[render].position == before  # pinned: stays
    assert window.files.save(tmp_path / "look.json")
    saved = [n for n in json.loads((tmp_path / "look.json").read_text())["nodes"]
             if n["id"] == render][0]
    assert saved["colour"] == COLOURS["Red"] and saved["pinned"] is True
    _action(window.menus.build(centre), "Pin").trigger()  # unpinned: drags again
    _drag(viewport, start, start + QPoint(120, 90))
    assert window.document.graph.nodes[render].position != before
    assert_canvas_matches(window)
