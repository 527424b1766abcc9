"""Tooltips, Tab in node fields, Tab search entries, the Nodes list, refused links."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from app.gui.viewer import NODE_MIME
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain, drag_link
from tests.gui.test_canvas_mouse import _drag, _port_point


def test_port_and_node_tooltips_come_from_the_declarations(window, qtbot):
    ids = build_chain(window)
    const = window.canvas.view_node(ids["const"])
    assert const.outputs()["out"].view.toolTip() == "out: LATENT"
    render = window.canvas.view_node(ids["render"])
    assert render.inputs()["prompt"].view.toolTip() == "prompt: CONDITIONING (optional)"
    tip = render.view.toolTip()
    assert "Render" in tip and "toy.render" in tip and "studio." not in tip
    fail = window.canvas.add_node("toy.fail", (250, 200))
    drag_link(window, ids["const"], "out", fail, "x")
    drag_link(window, fail, "out", ids["render"], "x")
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert "the toy node broke" in window.canvas.view_node(fail).view.toolTip()


def test_tab_in_a_node_field_moves_to_the_next_field(window, qtbot):
    node_id = window.canvas.add_node("toy.text", (0, 0))
    window.canvas.graph_view.center_on()
    window.activateWindow()
    qtbot.waitActive(window)
    viewer = window.canvas.graph_view.viewer()
    search = viewer._search_widget
    opened: list[bool] = []

    def close_search() -> None:  # if the search opened, its modal loop is running
        if search.isVisible():
            opened.append(True)
            search.close()

    values = window.canvas.node_values(node_id)
    text, loud = values.editors["text"].field, values.editors["loud"].field
    viewer.setFocus()
    values.setFocus()
    text.setFocus()
    QTimer.singleShot(200, close_search)
    qtbot.keyClick(viewer, Qt.Key.Key_Tab)
    qtbot.wait(250)
    assert opened == []
    assert loud.hasFocus()
    assert window.document.graph.nodes[node_id].values["text"] == "hello"  # no tab typed
    assert len(window.document.graph.nodes) == 1


def test_tab_search_lists_only_our_node_types(window, qtbot):
    names = window.canvas.search_names()
    assert sorted(names) == sorted(spec.title for spec in window.registry)
    assert all(kind.startswith("studio.") for kinds in names.values() for kind in kinds)
    assert "Backdrop" not in names and "Missing node" not in names
    search = window.canvas.graph_view.viewer()._search_widget
    QTimer.singleShot(100, search.close)
    window.canvas.show_search()  # the menu of categories, as the user sees it
    titles = sorted(m.title() for m in search._menus.values())
    assert titles == ["Conditioning", "Image", "Latent", "Sampling", "Utility"]


def test_node_list_filter_matches_loosely(window):
    tree = window.node_list.tree

    def visible() -> list[str]:
        found = []
        for i in range(tree.topLevelItemCount()):
            group = tree.topLevelItem(i)
            found += [group.child(j).text(0) for j in range(group.childCount())
                      if not group.child(j).isHidden()]
        return found

    window.node_list.filter.setText("ldimg")
    assert visible() == ["Load Image"]
    window.node_list.filter.setText("toy.ren")  # type ids match too
    assert visible() == ["Render"]
    window.node_list.filter.setText("")
    assert len(visible()) == len(list(window.registry))


def test_node_list_item_dragged_onto_the_canvas(window, qtbot):
    tree = window.node_list.tree
    item = tree.findItems("Render", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)[0]
    mime = tree.mimeData([item])
    assert bytes(mime.data(NODE_MIME)).decode() == "toy.render"
    viewer = window.canvas.graph_view.viewer()
    target = viewer.mapFromScene(QPointF(120, 80))
    enter = QDragEnterEvent(QPointF(target), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    viewer.dragEnterEvent(enter)  # (offscreen Qt has no drag manager to route real drops)
    assert enter.isAccepted()
    viewer.dropEvent(QDropEvent(QPointF(target), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    (node,) = window.document.graph.nodes.values()
    assert node.type == "toy.render"
    assert abs(node.position[0] - 120) <= 1 and abs(node.position[1] - 80) <= 1
    assert_canvas_matches(window)
    assert not tree.mimeData([tree.topLevelItem(0)]).hasFormat(NODE_MIME)  # a category


def test_self_links_and_cycles_are_refused_with_a_message(window, qtbot):
    a = window.canvas.add_node("toy.fail", (0, 0))
    b = window.canvas.add_node("toy.fail", (300, 0))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewport = window.canvas.graph_view.viewer().viewport()
    _drag(viewport, _port_point(window, a, "out", True), _port_point(window, a, "x", False))
    assert window.document.graph.edges == []
    assert any("cannot feed itself" in t for t in window.messages.texts())
    _drag(viewport, _port_point(window, a, "out", True), _port_point(window, b, "x", False))
    assert len(window.document.graph.edges) == 1
    _drag(viewport, _port_point(window, b, "out", True), _port_point(window, a, "x", False))
    assert len(window.document.graph.edges) == 1
    assert any("cycle" in t for t in window.messages.texts())
    assert "refused" in window.statusBar().currentMessage()
    assert_canvas_matches(window)
