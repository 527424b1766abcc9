"""The canvas's view commands (selection, framing, search, collapse, modes).

A mixin of :class:`app.gui.canvas.Canvas`, kept apart so each file stays short; it only uses
the canvas's views and Document.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtGui import QPixmap

from app.engine.subgraphs import PREFIX as SUBGRAPH_PREFIX
from app.gui.node_items import PLACEHOLDER_TYPE, StudioNodeItem, make_node_class

if TYPE_CHECKING:
    from NodeGraphQt import BaseNode, NodeGraph

    from app.gui.document import Document
    from app.gui.node_widgets import NodeValues


class CanvasCommands:
    graph_view: NodeGraph
    document: Document
    _views: dict[str, BaseNode]
    _values: dict[str, NodeValues]
    _types: dict[str, str]
    _dynamic: set[str]

    # -- node kinds, subgraphs, files ------------------------------------------------
    def _kind(self, type_id: str) -> str:
        """The NodeGraphQt type drawing ``type_id``; subgraph types get a class per port set."""
        if type_id in self._types or not type_id.startswith(SUBGRAPH_PREFIX):
            return self._types.get(type_id, PLACEHOLDER_TYPE)
        spec = self.document.registry.get(type_id)
        if spec is None:
            return PLACEHOLDER_TYPE
        ports = (tuple((p.name, p.type) for p in spec.links),
                 tuple((p.name, p.type) for p in spec.outputs), spec.title)
        suffix = "_" + hashlib.sha1(repr(ports).encode()).hexdigest()[:10]
        cls = make_node_class(spec, suffix)
        kind = f"{cls.__identifier__}.{cls.__name__}"
        if kind not in self._dynamic:
            self.graph_view.register_node(cls)
            self._dynamic.add(kind)
        return kind

    def _on_double_clicked(self, view: BaseNode) -> None:
        """Double-click on a subgraph node: edit its inside."""
        gid = self.gid(view)
        node = self.document.graph.nodes.get(gid) if gid is not None else None
        if node is not None and node.type.startswith(SUBGRAPH_PREFIX):
            self.document.enter(node.type[len(SUBGRAPH_PREFIX):])

    def _show_file(self, node_id: str, path: object) -> None:
        """A thumbnail of the image file a node loads (Load Image), under the node."""
        view = self._views.get(node_id)
        if view is None or not isinstance(view.view, StudioNodeItem) or \
                getattr(view.view, "shown_file", None) == path:
            return
        view.view.shown_file = path
        pixmap = QPixmap(str(path)) if isinstance(path, str) and Path(path).is_file() else None
        if pixmap is not None and not pixmap.isNull():
            view.view.show_preview(pixmap)
        elif view.view.preview_item is not None:
            view.view.preview_item.setVisible(False)

    def _move_views(self, positions: dict[str, tuple[float, float]]) -> None:
        """Move node items only (a group drag in progress); the Document follows on drop."""
        for node_id, (x, y) in positions.items():
            if (view := self._views.get(node_id)) is not None:
                view.view.xy_pos = [x, y]

    def view_centre(self) -> tuple[float, float]:
        viewer = self.graph_view.viewer()
        centre = viewer.mapToScene(viewer.viewport().rect().center())
        return (round(centre.x() - 80), round(centre.y() - 40))

    def selected_ids(self) -> list[str]:
        return [gid for n in self.graph_view.selected_nodes() if (gid := self.gid(n)) is not None]

    def select(self, node_ids: list[str]) -> None:
        for view in self._views.values():  # (NodeGraphQt's clear_selection pushes undo steps)
            view.view.setSelected(False)
        for node_id in node_ids:
            if (view := self._views.get(node_id)) is not None:
                view.view.setSelected(True)
        self._emit_selection()

    def toggle_mode(self, mode: str) -> None:
        """Bypass (or mute) the selected nodes, or put them back to normal: one undo step."""
        self.document.toggle_mode(self.selected_ids(), mode)

    def select_all(self) -> None:
        self.select(list(self._views))

    def frame_all(self) -> None:
        """Zoom so that every node is in view."""
        if self._views:
            self.graph_view.viewer().zoom_to_nodes([v.view for v in self._views.values()])

    def search_names(self) -> dict[str, list[str]]:
        """What Tab search lists: our node types only (no NodeGraphQt Backdrop/placeholder)."""
        names: dict[str, list[str]] = {}
        for type_id, kind in self._types.items():
            spec = self.document.registry.get(type_id)
            names.setdefault(spec.title if spec else type_id, []).append(kind)
        return names

    def show_search(self, at: tuple[float, float] | None = None) -> None:
        """Open the Tab node search at the cursor, or at scene position ``at``."""
        self.graph_view.viewer().show_search(self.search_names(),
                                             QPointF(*at) if at is not None else None)

    def is_collapsed(self, node_id: str) -> bool:
        values = self._values.get(node_id)
        return values is not None and not values.isVisible()

    def set_collapsed(self, node_id: str, collapsed: bool) -> None:
        """Hide (or show) a node's value editors; a view setting, not part of the graph."""
        values, view = self._values.get(node_id), self._views.get(node_id)
        if values is not None and view is not None:
            values.setVisible(not collapsed)
            view.view.draw_node()

    def scene_pos(self, x: float, y: float) -> QPointF:
        return self.graph_view.viewer().mapToScene(int(x), int(y))
