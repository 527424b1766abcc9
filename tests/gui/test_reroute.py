"""Reroutes: drawn small, added from the canvas menu, or by double-clicking a link (split
through the reroute as one undo step); a run goes through them."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from app.engine.graph import Edge
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain


def test_double_click_on_a_link_puts_a_reroute_in_it(window, qtbot):
    ids = build_chain(window)
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewer = window.canvas.graph_view.viewer()
    pipe = next(iter(window.canvas.view_node(ids["save"]).inputs()["image"].view.connected_pipes))
    middle = pipe.path().pointAtPercent(0.5)
    before = window.document.graph.copy()
    qtbot.mouseDClick(viewer.viewport(), Qt.MouseButton.LeftButton,
                      pos=viewer.mapFromScene(middle))
    (reroute,) = window.canvas.selected_ids()
    graph = window.document.graph
    assert graph.nodes[reroute].type == "utility.reroute"
    assert Edge(ids["render"], "image", reroute, "input") in graph.edges
    assert Edge(reroute, "output", ids["save"], "image") in graph.edges
    assert len(graph.edges) == 3
    item = window.canvas.view_node(reroute).view
    assert item.boundingRect().width() < 60 and not item._text_item.isVisible()
    assert_canvas_matches(window)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok"
    assert len(list(window.output_dir.glob("*.png"))) == 1
    window.actions["undo"].trigger()
    assert window.document.graph == before
    assert_canvas_matches(window)


def test_add_reroute_from_the_canvas_menu(window):
    menu = window.menus.build(QPointF(-500, -500))
    action = next(a for a in menu.actions() if a.text() == "Add Reroute")
    action.trigger()
    (node,) = window.document.graph.nodes.values()
    assert node.type == "utility.reroute"
    assert_canvas_matches(window)
