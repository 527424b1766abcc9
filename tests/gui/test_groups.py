"""Groups on the canvas: add around the selection, drag by the title with their nodes (one
undo step), rename/recolour/delete, kept in files, and clicks inside reach the canvas."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF

from app.engine.graph import Group
from app.gui.groups import TITLE_HEIGHT
from app.interop.open import open_workflow
from tests.gui.conftest import assert_canvas_matches, build_chain
from tests.gui.test_canvas_mouse import _drag


def _texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def _action(menu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


def test_add_group_around_the_selection_and_at_the_cursor(window, qtbot):
    ids = build_chain(window)
    window.canvas.select([ids["const"], ids["render"]])
    _action(window.menus._node_menu(ids["render"]), "Add Group Around Selection").trigger()
    (group,) = window.document.graph.groups
    x, y, w, h = group.bounds
    for node_id in (ids["const"], ids["render"]):
        rect = window.canvas.view_node(node_id).view.sceneBoundingRect()
        assert x < rect.left() and rect.right() < x + w
        assert y + TITLE_HEIGHT < rect.top() and rect.bottom() < y + h
    assert not (x <= window.document.graph.nodes[ids["save"]].position[0] <= x + w)
    assert_canvas_matches(window)
    window.canvas.select([])
    menu = window.menus.build(QPointF(-900, -900))
    assert "Add Group" in _texts(menu) and "Backdrop" not in " ".join(_texts(menu))
    _action(menu, "Add Group").trigger()
    assert window.document.graph.groups[1].bounds[:2] == (-900.0, -900.0)
    window.actions["undo"].trigger()
    window.actions["undo"].trigger()
    assert window.document.graph.groups == []
    assert window.canvas.groups.items == []
    assert_canvas_matches(window)


def test_dragging_the_title_moves_the_group_and_its_nodes_as_one_step(window, qtbot):
    ids = build_chain(window)
    window.canvas.select([ids["const"], ids["render"]])
    window.menus.add_group()
    window.canvas.select([])
    before = window.document.graph.copy()
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewer = window.canvas.graph_view.viewer()
    item = window.canvas.groups.items[0]
    start = viewer.mapFromScene(item.mapToScene(QPointF(60, TITLE_HEIGHT / 2)))
    _drag(viewer.viewport(), start, start + QPoint(80, 50))
    graph = window.document.graph
    dx = graph.groups[0].bounds[0] - before.groups[0].bounds[0]
    dy = graph.groups[0].bounds[1] - before.groups[0].bounds[1]
    assert dx > 20 and dy > 10
    for key in ("const", "render"):
        old, new = before.nodes[ids[key]].position, graph.nodes[ids[key]].position
        assert (round(new[0] - old[0], 1), round(new[1] - old[1], 1)) == (dx, dy)
    assert graph.nodes[ids["save"]].position == before.nodes[ids["save"]].position
    assert_canvas_matches(window)
    window.actions["undo"].trigger()  # one step puts the group and both nodes back
    assert window.document.graph == before
    assert_canvas_matches(window)


def test_clicks_inside_a_group_reach_the_canvas(window, qtbot):
    window.document.edit("g", lambda g: g.groups.append(Group("Box", (0, 0, 500, 400))))
    viewer = window.canvas.graph_view.viewer()
    assert window.canvas.groups.at(QPointF(100, 200)) is None  # the body is not the group's
    assert viewer.item_at(QPointF(100, 200)) is None
    assert window.canvas.groups.at(QPointF(100, 10)) == 0
    assert _texts(window.menus.build(QPointF(100, 200)))[0] == "Add Node…"


def test_group_menu_renames_recolours_deletes_and_files_keep_groups(window, qtbot, tmp_path):
    build_chain(window)
    window.document.edit("g", lambda g: g.groups.append(Group("Box", (-50, -80, 400, 300))))
    menu = window.menus.build(QPointF(0, -70))
    assert _texts(menu)[0] == "group 'Box'"
    window.menus.ask_text = lambda title, text: "Inputs"
    _action(menu, "Rename Group…").trigger()
    colours = next(a.menu() for a in menu.actions() if a.text() == "Colour")
    _action(colours, "Green").trigger()
    assert (window.document.graph.groups[0].title, window.document.graph.groups[0].colour) \
        == ("Inputs", "#3f6b47")
    assert_canvas_matches(window)
    path = tmp_path / "g.json"
    assert window.files.save(path)
    assert open_workflow(path).groups == window.document.graph.groups
    _action(window.menus.build(QPointF(0, -70)), "Delete Group").trigger()
    assert window.document.graph.groups == [] and len(window.document.graph.nodes) == 3
    assert window.files.open(path)  # reload in place (open_file focuses its tab)
    assert window.canvas.groups.items[0].title == "Inputs"
    assert_canvas_matches(window)


def test_dragging_the_corner_handle_resizes_the_group_as_one_step(window, qtbot, tmp_path):
    window.document.edit("g", lambda g: g.groups.append(Group("Box", (0, 0, 300, 200))))
    before = window.document.graph.copy()
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewer = window.canvas.graph_view.viewer()
    corner = viewer.mapFromScene(QPointF(300 - 4, 200 - 4))  # inside the handle
    assert window.canvas.groups.items[0].on_handle(QPointF(296, 196))
    _drag(viewer.viewport(), corner, corner + QPoint(120, 60))
    x, y, w, h = window.document.graph.groups[0].bounds
    assert (x, y) == (0, 0) and w > 340 and h > 220
    assert_canvas_matches(window)
    _drag(viewer.viewport(), viewer.mapFromScene(QPointF(w - 4, h - 4)),
          viewer.mapFromScene(QPointF(-500, -500)))  # never smaller than a title and a row
    _x, _y, w2, h2 = window.document.graph.groups[0].bounds
    assert w2 >= 120 and h2 >= TITLE_HEIGHT + 40
    window.actions["undo"].trigger()
    window.actions["undo"].trigger()  # one step each
    assert window.document.graph == before
    assert_canvas_matches(window)
    window.actions["redo"].trigger()
    assert window.files.save(tmp_path / "g.json")
    assert open_workflow(tmp_path / "g.json").groups[0].bounds == (0, 0, w, h)
