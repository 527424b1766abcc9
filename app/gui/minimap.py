"""A minimap in the canvas's corner: every node and group in small, the part in view as a
frame; a click (or drag) there brings that part of the graph into view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from app.gui.canvas import Canvas

SIZE = (200, 130)
PAD = 40.0


class MiniMap(QWidget):
    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.viewer = canvas.graph_view.viewer()
        super().__init__(self.viewer)
        self.setFixedSize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Minimap: click or drag to move the view")
        self.viewer.installEventFilter(self)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.update)
        self._timer.start()
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.viewer and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.move(self.viewer.width() - SIZE[0] - 12, self.viewer.height() - SIZE[1] - 12)

    def view_rect(self) -> QRectF:
        """The part of the scene the canvas shows."""
        return self.viewer.mapToScene(self.viewer.viewport().rect()).boundingRect()

    def world(self) -> QRectF:
        """The scene area the minimap spans: every node and group, and the view."""
        rect = self.view_rect()
        for view in self.canvas._views.values():
            rect = rect.united(view.view.sceneBoundingRect())
        for item in self.canvas.groups.items:
            rect = rect.united(item.sceneBoundingRect())
        return rect.adjusted(-PAD, -PAD, PAD, PAD)

    def _scale(self) -> tuple[QRectF, float]:
        world = self.world()
        return world, min(SIZE[0] / max(world.width(), 1.0), SIZE[1] / max(world.height(), 1.0))

    def to_scene(self, point: QPointF) -> QPointF:
        world, scale = self._scale()
        return QPointF(world.left() + point.x() / scale, world.top() + point.y() / scale)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        world, scale = self._scale()

        def box(rect: QRectF) -> QRectF:
            return QRectF((rect.left() - world.left()) * scale, (rect.top() - world.top()) * scale,
                          rect.width() * scale, rect.height() * scale)

        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 22, 26, 210))
        painter.setPen(Qt.PenStyle.NoPen)
        for item in self.canvas.groups.items:
            colour = QColor(item.group.colour)
            colour.setAlpha(110)
            painter.setBrush(colour)
            painter.drawRect(box(item.sceneBoundingRect()))
        for view in self.canvas._views.values():
            r, g, b, _a = view.view.color
            painter.setBrush(QColor(r, g, b))
            painter.drawRect(box(view.view.sceneBoundingRect()))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(230, 230, 235), 1.2))
        painter.drawRect(box(self.view_rect()))
        painter.setPen(QColor(70, 74, 82))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def centre_on(self, scene_point: QPointF) -> None:
        """Move the canvas so that ``scene_point`` is in the middle of the view."""
        scene_range = self.viewer._scene_range
        scene_range.translate(scene_point - scene_range.center())
        self.viewer.setSceneRect(scene_range)
        self.update()

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        self.centre_on(self.to_scene(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.centre_on(self.to_scene(event.position()))
        event.accept()
