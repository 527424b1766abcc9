"""A link dragged to empty canvas offers the node types that fit; the chosen one is added
there and wired, as one undo step."""

from __future__ import annotations

from PySide6.QtCore import QPoint

from app.engine.graph import Edge
from tests.gui.conftest import assert_canvas_matches
from tests.gui.test_canvas_mouse import _drag, _port_point


def _all_texts(menu) -> list[str]:
    out = []
    for action in menu.actions():
        out += _all_texts(action.menu()) if action.menu() else [action.text()]
    return out


def _find(menu, text):
    for action in menu.actions():
        if action.menu():
            found = _find(action.menu(), text)
            if found:
                return found
        elif action.text() == text:
            return action
    return None


def test_dragging_an_output_to_empty_canvas_adds_a_wired_node(window, qtbot):
    const = window.canvas.add_node("toy.const", (0, 0))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    shown = []
    window.menus.open_menu = lambda menu, pos: shown.append(menu)
    viewport = window.canvas.graph_view.viewer().viewport()
    start = _port_point(window, const, "out", True)
    _drag(viewport, start, start + QPoint(200, 120))
    assert len(shown) == 1
    texts = _all_texts(shown[0])
    assert "Render" in texts and "Fail" in texts
    assert "Save" not in texts and "Prompt" not in texts  # they take no LATENT
    before = window.document.graph.copy()
    _find(shown[0], "Render").trigger()
    (new,) = window.canvas.selected_ids()
    assert window.document.graph.nodes[new].type == "toy.render"
    assert window.document.graph.edges == [Edge(const, "out", new, "x")]
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert window.document.graph == before
    assert_canvas_matches(window)


def test_dragging_an_input_to_empty_canvas_offers_producers(window, qtbot):
    render = window.canvas.add_node("toy.render", (300, 0))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    shown = []
    window.menus.open_menu = lambda menu, pos: shown.append(menu)
    start = _port_point(window, render, "prompt", False)
    _drag(window.canvas.graph_view.viewer().viewport(), start, start - QPoint(220, -150))
    texts = _all_texts(shown[0])
    assert "Prompt" in texts and "Constant" not in texts
    _find(shown[0], "Prompt").trigger()
    (new,) = window.canvas.selected_ids()
    assert window.document.graph.edges == [Edge(new, "out", render, "prompt")]
    assert_canvas_matches(window)


def test_dropping_on_a_port_still_links_without_a_menu(window, qtbot):
    const = window.canvas.add_node("toy.const", (0, 0))
    render = window.canvas.add_node("toy.render", (300, 0))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    shown = []
    window.menus.open_menu = lambda menu, pos: shown.append(menu)
    _drag(window.canvas.graph_view.viewer().viewport(), _port_point(window, const, "out", True),
          _port_point(window, render, "x", False))
    assert shown == [] and window.document.graph.edges == [Edge(const, "out", render, "x")]
