"""A value turned into an input: the port appears, a link drives it (its field disabled),
"Convert back" removes port and link; undo, files and copy/paste keep it."""

from __future__ import annotations

from app.engine.graph import Edge
from app.interop.open import open_workflow
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain, drag_link


def _submenu(menu, title):
    return next(a.menu() for a in menu.actions() if a.text() == title)


def _entry(menu, text):
    return next(a for a in menu.actions() if a.text() == text)


def test_convert_link_run_and_convert_back(window, qtbot):
    ids = build_chain(window, steps=4)
    render = ids["render"]
    number = window.canvas.add_node("toy.int", (0, 200))
    window.document.set_value(number, "value", 7)
    assert "steps" not in window.canvas.view_node(render).inputs()
    menu = window.menus._node_menu(render)
    assert [a.text() for a in _submenu(menu, "Convert to Input").actions()] == ["steps", "delay"]
    assert not _submenu(menu, "Convert Back").isEnabled()
    _entry(_submenu(menu, "Convert to Input"), "steps").trigger()
    assert list(window.canvas.view_node(render).inputs()) == ["x", "prompt", "steps"]
    assert_canvas_matches(window)
    editor = window.canvas.node_values(render).editors["steps"]
    assert editor.isEnabled()  # converted but not linked yet: the field still counts
    drag_link(window, number, "int", render, "steps")
    assert Edge(number, "int", render, "steps") in window.document.graph.edges
    editor = window.canvas.node_values(render).editors["steps"]
    assert not editor.isEnabled()
    assert_canvas_matches(window)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok"
    assert window.preview.frames == 7  # the steps came through the link
    _entry(_submenu(window.menus._node_menu(render), "Convert Back"), "steps").trigger()
    assert "steps" not in window.canvas.view_node(render).inputs()
    assert all(e.input != "steps" for e in window.document.graph.edges)
    assert window.canvas.node_values(render).editors["steps"].isEnabled()
    assert_canvas_matches(window)
    window.actions["undo"].trigger()  # one step: port and link back
    assert Edge(number, "int", render, "steps") in window.document.graph.edges
    assert_canvas_matches(window)


def test_a_wrong_kind_is_refused(window, qtbot):
    ids = build_chain(window)
    window.canvas.add_node("toy.text", (0, 300))
    text = max(window.document.graph.nodes, key=int)
    _entry(_submenu(window.menus._node_menu(ids["render"]), "Convert to Input"),
           "steps").trigger()
    drag_link(window, text, "out", ids["render"], "steps")
    assert all(e.input != "steps" for e in window.document.graph.edges)
    assert any("refused" in t for t in window.messages.texts())


def test_converted_values_are_saved_and_pasted(window, qtbot, tmp_path):
    ids = build_chain(window)
    _entry(_submenu(window.menus._node_menu(ids["render"]), "Convert to Input"),
           "delay").trigger()
    path = tmp_path / "v.json"
    assert window.files.save(path)
    assert open_workflow(path).metadata["value_inputs"] == {ids["render"]: ["delay"]}
    window.new_file()
    assert window.open_file(path)
    assert "delay" in window.canvas.view_node(ids["render"]).inputs()
    window.canvas.select([ids["render"]])
    window.clipboard.duplicate()
    (copy,) = window.canvas.selected_ids()
    assert "delay" in window.canvas.view_node(copy).inputs()
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert_canvas_matches(window)
