"""NodeGraphQt's viewer with its leftovers taken out: no undo stack, no built-in menus.

NodeGraphQt's own viewer makes undo/redo actions on a hidden menu bar that hold Ctrl+Z and
Ctrl+Shift+Z (so the window's Undo became an "ambiguous shortcut" once the canvas had focus),
shows its own context menus, and picks up an input's link on a right-click. Ours has no undo
stack (the Document's history is the only one), asks the canvas for a menu instead, and leaves
links alone unless the left button drags them.
"""

from __future__ import annotations

from typing import Any

from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.pipe import PipeItem
from NodeGraphQt.qgraphics.port import PortItem
from NodeGraphQt.widgets.viewer import NodeViewer
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsProxyWidget

from app.gui.theme import category_name

NODE_MIME = "application/x-diffusion-studio-node-type"  # a node type dragged from the list
ACCEPTED_DROPS = (NODE_MIME, "text/uri-list")


class StudioViewer(NodeViewer):
    """The canvas widget.

    Signals:
        menu_requested(QPoint, QPointF): a right-click, at (global, scene) positions.
    """

    menu_requested = Signal(QPoint, QPointF)
    link_dropped = Signal(object, QPointF)  # a new link let go on empty canvas: (port, at)
    pipe_double_clicked = Signal(object, QPointF)  # (PipeItem, scene position)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent, undo_stack=None)
        self._name_search_menus()

    def _name_search_menus(self) -> None:
        """Tab search's category submenus say "Latent", not the type prefix "studio.latent"."""
        search = self._search_widget
        build = search.build_menu_tree

        def build_named() -> None:
            build()
            for path, menu in search._menus.items():
                menu.setTitle(category_name(path.rsplit(".", 1)[-1]))

        search.build_menu_tree = build_named

    def show_search(self, names: dict[str, list[str]], at: QPointF | None = None) -> None:
        """Open the Tab node search listing ``names`` (title -> node kinds), at the cursor or
        at scene position ``at`` (where the node it adds goes)."""
        if at is not None:
            self._previous_pos = self.mapFromScene(at)
        self.tab_search_set_nodes(names)
        self.tab_search_toggle()

    def event(self, event: QEvent) -> bool:
        """Tab typed in a node's field moves to its next field: the Tab shortcut (node
        search) only applies when no embedded field has the focus."""
        if (event.type() == QEvent.Type.ShortcutOverride
                and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
                and isinstance(self.scene().focusItem(), QGraphicsProxyWidget)):
            event.accept()
            return True
        return super().event(event)

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Files and node types from the Nodes list (not NodeGraphQt's own formats)."""
        if any(event.mimeData().hasFormat(f) for f in ACCEPTED_DROPS):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent  # noqa: N815

    def sceneMousePressEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton and not self._LIVE_PIPE.isVisible():
            return  # a right or middle click never picks up a link
        super().sceneMousePressEvent(event)

    def sceneMouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            return
        super().sceneMouseReleaseEvent(event)

    def apply_live_connection(self, event: Any) -> None:
        """A link dragged from a port and let go where there is no port or node: after
        NodeGraphQt drops it, ``link_dropped`` offers to add a node there."""
        start, fresh = self._start_port, self._detached_port is None
        empty = self._LIVE_PIPE.isVisible() and not any(
            isinstance(i, PortItem | AbstractNodeItem) for i in self.scene().items(event.scenePos()))
        super().apply_live_connection(event)
        if empty and fresh and start is not None:
            self.link_dropped.emit(start, event.scenePos())

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802
        """Double-click on a link (not on a node): ``pipe_double_clicked`` (add a reroute)."""
        at = self.mapToScene(event.position().toPoint())
        items = self.scene().items(at)
        if not any(isinstance(i, AbstractNodeItem | PortItem) for i in items):
            pipes = self._items_near(at, PipeItem, 8, 8)
            if pipes:
                self.pipe_double_clicked.emit(pipes[0], at)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: Any) -> None:  # noqa: N802
        self.RMB_state = False
        self.menu_requested.emit(event.globalPos(), self.mapToScene(event.pos()))
        event.accept()

    def item_at(self, scene_pos: QPointF) -> QGraphicsItem | None:
        """The port, else the node, under ``scene_pos`` (None on empty canvas)."""
        items = self.scene().items(scene_pos)
        port = next((i for i in items if isinstance(i, PortItem)), None)
        if port is None:  # ports are small: allow a few pixels around them
            near = self._items_near(scene_pos + QPointF(4, 4), PortItem, 8, 8)
            port = near[0] if near else None
        return port or next((i for i in items if isinstance(i, AbstractNodeItem)), None)
