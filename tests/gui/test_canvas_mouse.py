"""Real mouse and keyboard input on the canvas (not only the signals behind it)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.engine.graph import Edge


def _port_point(window, node_id: str, name: str, output: bool) -> QPoint:
    node = window.canvas.view_node(node_id)
    port = (node.outputs() if output else node.inputs())[name].view
    centre = port.sceneBoundingRect().center()
    return window.canvas.graph_view.viewer().mapFromScene(centre)


def _mouse(widget, kind, pos: QPoint, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove \
        else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _drag(widget, start: QPoint, end: QPoint) -> None:
    held, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(widget, QMouseEvent.Type.MouseButtonPress, start, held)
    for i in range(1, 6):
        _mouse(widget, QMouseEvent.Type.MouseMove, start + (end - start) * (i / 5), held)
    _mouse(widget, QMouseEvent.Type.MouseButtonRelease, end, none)


def test_dragging_a_pipe_with_the_mouse_links_and_refuses(window, qtbot):
    const = window.canvas.add_node("toy.const", (0, 0))
    render = window.canvas.add_node("toy.render", (300, 0))
    text = window.canvas.add_node("toy.text", (0, 150))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewport = window.canvas.graph_view.viewer().viewport()
    _drag(viewport, _port_point(window, const, "out", True),
          _port_point(window, render, "x", False))
    assert window.document.graph.edges == [Edge(const, "out", render, "x")]
    _drag(viewport, _port_point(window, text, "out", True),
          _port_point(window, render, "x", False))
    assert window.document.graph.edges == [Edge(const, "out", render, "x")]
    assert any("refused" in t for t in window.messages.texts())
    assert window.canvas._view_links() == {Edge(const, "out", render, "x")}


def test_moving_a_node_with_the_mouse_is_recorded_and_undoable(window, qtbot):
    node_id = window.canvas.add_node("toy.const", (0, 0))
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewer = window.canvas.graph_view.viewer()
    item = window.canvas.view_node(node_id).view
    start = viewer.mapFromScene(item.sceneBoundingRect().center() + QPointF(0, -2))
    _drag(viewer.viewport(), start, start + QPoint(60, 40))
    x, y = window.document.graph.nodes[node_id].position
    assert (x, y) != (0.0, 0.0)
    window.actions["undo"].trigger()
    assert window.document.graph.nodes[node_id].position == (0.0, 0.0)
    assert tuple(item.xy_pos) == (0.0, 0.0)


def test_tab_search_adds_the_chosen_node(window, qtbot):
    search = window.canvas.graph_view.viewer()._search_widget

    def choose() -> None:  # the search menu runs its own modal loop, so type into it later
        search.line_edit.setText("Render")
        search.line_edit.returnPressed.emit()

    QTimer.singleShot(100, choose)
    window.canvas.show_search()
    (node,) = window.document.graph.nodes.values()
    assert node.type == "toy.render"
    assert window.canvas.view_node(node.id) is not None


def test_pressing_tab_on_the_canvas_opens_the_search(window, qtbot):
    viewer = window.canvas.graph_view.viewer()
    search = viewer._search_widget
    window.activateWindow()
    qtbot.waitActive(window)
    viewer.setFocus()
    opened: list[bool] = []

    def choose() -> None:  # runs inside the search menu's own modal loop
        opened.append(search.isVisible())
        search.line_edit.setText("Constant")
        search.line_edit.returnPressed.emit()

    QTimer.singleShot(100, choose)
    qtbot.keyClick(viewer, Qt.Key.Key_Tab)  # the real key, through the shortcut map
    assert opened == [True]
    (node,) = window.document.graph.nodes.values()
    assert node.type == "toy.const"
