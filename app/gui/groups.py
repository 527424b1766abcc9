"""Groups on the canvas: titled, coloured frames behind nodes (``Graph.groups``).

A group is drawn from the document; dragging its title bar moves it and the nodes whose
top-left corner lies inside it, as one undo step; dragging the handle in its bottom-right
corner resizes it (one undo step, saved in the workflow). Only the title bar and the handle
take the mouse, so rubber-band selection and clicks inside a group reach the canvas as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from app.engine.graph import Graph, Group
from app.gui.document import Document

TITLE_HEIGHT = 26.0
MARGIN = 20.0
GROUP_Z = -100.0
HANDLE = 16.0  # the resize handle's side
MIN_SIZE = (120.0, TITLE_HEIGHT + 40.0)
COLOURS = {"Blue": "#3f5a7a", "Green": "#3f6b47", "Red": "#7a3f3f", "Purple": "#5e3f7a",
           "Yellow": "#7a703f", "Grey": "#555a60"}


def members(graph: Graph, group: Group) -> list[str]:
    """Ids of the nodes whose top-left corner lies inside ``group``."""
    x, y, w, h = group.bounds
    return [i for i, n in graph.nodes.items()
            if x <= n.position[0] <= x + w and y <= n.position[1] <= y + h]


def add_group(document: Document, title: str, bounds: tuple[float, float, float, float],
              colour: str = COLOURS["Blue"]) -> None:
    rounded = tuple(round(float(v), 1) for v in bounds)
    document.edit("add group", lambda g: g.groups.append(Group(title, rounded, colour)))


def move_group(document: Document, index: int, dx: float, dy: float) -> None:
    """Move group ``index`` and its nodes by (dx, dy): one undo step."""
    def change(graph: Graph) -> None:
        group = graph.groups[index]
        for node_id in members(graph, group):
            x, y = graph.nodes[node_id].position
            graph.nodes[node_id].position = (round(x + dx, 1), round(y + dy, 1))
        x, y, w, h = group.bounds
        group.bounds = (round(x + dx, 1), round(y + dy, 1), w, h)

    if 0 <= index < len(document.graph.groups) and (dx or dy):
        document.edit("move group", change)


def change_group(document: Document, index: int, **fields: Any) -> None:
    """Rename, recolour or resize group ``index`` (fields of ``Group``)."""
    def change(graph: Graph) -> None:
        for name, value in fields.items():
            setattr(graph.groups[index], name, value)

    if 0 <= index < len(document.graph.groups):
        document.edit("edit group", change)


def remove_group(document: Document, index: int) -> None:
    """Delete the frame (its nodes stay)."""
    if 0 <= index < len(document.graph.groups):
        document.edit("delete group", lambda g: g.groups.pop(index))


def bounds_around(rects: list[QRectF]) -> tuple[float, float, float, float]:
    """A group's bounds around node rectangles, with room for its title bar."""
    box = rects[0]
    for rect in rects[1:]:
        box = box.united(rect)
    return (box.left() - MARGIN, box.top() - MARGIN - TITLE_HEIGHT,
            box.width() + 2 * MARGIN, box.height() + 2 * MARGIN + TITLE_HEIGHT)


class GroupItem(QGraphicsItem):
    """One group's frame. ``dragged(index, dx, dy)`` is called when a title drag ends;
    ``follow(index, dx, dy)`` while it goes (to move the member nodes' items along);
    ``resized(index, width, height)`` when a drag of the corner handle ends."""

    def __init__(self, index: int, group: Group, dragged: Callable[[int, float, float], None],
                 follow: Callable[[int, float, float], None],
                 resized: Callable[[int, float, float], None] | None = None) -> None:
        super().__init__()
        self.index, self.group = index, group
        self._dragged, self._follow, self._resized = dragged, follow, resized
        self._press: QPointF | None = None
        self._sizing: tuple[float, float] | None = None  # the size when a resize began
        self.setZValue(GROUP_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.SizeAllCursor)
        self.update_from(group)

    def update_from(self, group: Group) -> None:
        self.prepareGeometryChange()
        self.group = replace(group)  # what is drawn, compared with the document by checks
        x, y, _w, _h = group.bounds
        self.setPos(x, y)
        self.setToolTip(f"{group.title}: drag the title to move the group with its nodes; "
                        "right-click for more")
        self.update()

    @property
    def title(self) -> str:
        return self.group.title

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        _x, _y, w, h = self.group.bounds
        return QRectF(0, 0, w, h)

    def title_rect(self) -> QRectF:
        return QRectF(0, 0, self.group.bounds[2], TITLE_HEIGHT)

    def handle_rect(self) -> QRectF:
        _x, _y, w, h = self.group.bounds
        return QRectF(w - HANDLE, h - HANDLE, HANDLE, HANDLE)

    def on_handle(self, scene_pos: QPointF) -> bool:
        return self.handle_rect().contains(self.mapFromScene(scene_pos))

    def shape(self) -> QPainterPath:
        """Only the title bar and the resize handle are hit: the body leaves the canvas to
        its nodes and gestures."""
        path = QPainterPath()
        path.addRect(self.title_rect())
        path.addRect(self.handle_rect())
        return path

    def paint(self, painter: QPainter, option: Any, widget: Any) -> None:
        colour = QColor(self.group.colour)
        rect = self.boundingRect()
        painter.save()
        fill = QColor(colour)
        fill.setAlpha(55)
        painter.setPen(QPen(colour.lighter(130), 1.5))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 6, 6)
        bar = QColor(colour)
        bar.setAlpha(200)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bar)
        painter.drawRoundedRect(self.title_rect(), 6, 6)
        font = QFont(painter.font())
        font.setPointSizeF(11)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(235, 238, 242))
        painter.drawText(self.title_rect().adjusted(10, 0, -10, 0),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         self.group.title)
        handle = self.handle_rect()
        painter.setPen(QPen(colour.lighter(170), 1.5))
        for step in (4.0, 8.0, 12.0):  # three diagonal grip lines
            painter.drawLine(QPointF(handle.right() - step, handle.bottom() - 2),
                             QPointF(handle.right() - 2, handle.bottom() - step))
        painter.restore()

    # -- dragging by the title ---------------------------------------------------------
    def hoverMoveEvent(self, event: Any) -> None:  # noqa: N802
        on_handle = self.handle_rect().contains(event.pos())
        self.setCursor(Qt.CursorShape.SizeFDiagCursor if on_handle
                       else Qt.CursorShape.SizeAllCursor)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        self._press = event.scenePos()
        if self.handle_rect().contains(event.pos()):
            self._sizing = (self.group.bounds[2], self.group.bounds[3])
        viewer = next(iter(self.scene().views()), None)
        if viewer is not None and hasattr(viewer, "_node_positions"):
            viewer._node_positions.clear()  # the nodes move as part of this one edit
        event.accept()

    def _size_for(self, event: Any) -> tuple[float, float]:
        assert self._press is not None and self._sizing is not None
        delta = event.scenePos() - self._press
        return (round(max(MIN_SIZE[0], self._sizing[0] + delta.x()), 1),
                round(max(MIN_SIZE[1], self._sizing[1] + delta.y()), 1))

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802
        if self._press is not None and self._sizing is not None:
            x, y, _w, _h = self.group.bounds
            self.prepareGeometryChange()  # drawn at the new size; the document on release
            self.group = replace(self.group, bounds=(x, y, *self._size_for(event)))
            self.update()
        elif self._press is not None:
            delta = event.scenePos() - self._press
            x, y, _w, _h = self.group.bounds
            self.setPos(x + delta.x(), y + delta.y())
            self._follow(self.index, delta.x(), delta.y())

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        if self._press is not None and self._sizing is not None:
            width, height = self._size_for(event)
            self._press = self._sizing = None
            if self._resized is not None:
                self._resized(self.index, width, height)
        elif self._press is not None:
            delta = event.scenePos() - self._press
            self._press = None
            self._dragged(self.index, round(delta.x(), 1), round(delta.y(), 1))


class GroupLayer:
    """Keeps one GroupItem per ``document.graph.groups`` entry in ``scene``."""

    def __init__(self, document: Document, scene: QGraphicsScene,
                 move_views: Callable[[dict[str, tuple[float, float]]], None]) -> None:
        self.document, self.scene = document, scene
        self._move_views = move_views
        self.items: list[GroupItem] = []

    def sync(self) -> None:
        groups = self.document.graph.groups
        while len(self.items) > len(groups):
            self.scene.removeItem(self.items.pop())
        for index, group in enumerate(groups):
            if index < len(self.items):
                self.items[index].update_from(group)
            else:
                item = GroupItem(index, group, self._dragged, self._follow, self._resized)
                self.scene.addItem(item)
                self.items.append(item)

    def clear(self) -> None:
        for item in self.items:
            self.scene.removeItem(item)
        self.items = []

    def _follow(self, index: int, dx: float, dy: float) -> None:
        graph = self.document.graph
        positions = {i: (graph.nodes[i].position[0] + dx, graph.nodes[i].position[1] + dy)
                     for i in members(graph, graph.groups[index])}
        self._move_views(positions)

    def _dragged(self, index: int, dx: float, dy: float) -> None:
        move_group(self.document, index, dx, dy)
        if not (dx or dy):
            self.sync()

    def _resized(self, index: int, width: float, height: float) -> None:
        if 0 <= index < len(self.document.graph.groups):
            x, y, _w, _h = self.document.graph.groups[index].bounds
            change_group(self.document, index, bounds=(x, y, width, height))
        self.sync()  # also when nothing changed: the item shows the document's size again

    def at(self, scene_pos: QPointF) -> int | None:
        """The index of the group whose title bar is at ``scene_pos``, else None."""
        for item in reversed(self.items):
            if item.title_rect().contains(item.mapFromScene(scene_pos)):
                return item.index
        return None
