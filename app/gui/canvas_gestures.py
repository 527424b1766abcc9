"""The canvas's answers to user gestures: each becomes one Document edit (links made,
changed or sliced, nodes moved or renamed, values typed, nodes searched or dropped).

A mixin of :class:`app.gui.canvas.Canvas`, which connects NodeGraphQt's viewer signals here
instead of to NodeGraphQt's own handlers (and its undo stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal

from app.engine.graph import Edge
from app.gui.viewer import NODE_MIME

if TYPE_CHECKING:
    from app.gui.document import Document


class CanvasGestures:
    document: Document
    _types: dict[str, str]
    refused: Signal
    files_dropped: Signal

    if TYPE_CHECKING:  # the Canvas's own
        def gid(self, view_node: Any) -> str | None: ...
        def sync(self) -> None: ...
        def add_node(self, type_id: str, position: tuple[float, float] | None = None) -> str: ...

    # -- gestures -> document edits ----------------------------------------------------
    def _edge_from_ports(self, a: Any, b: Any) -> Edge | None:
        port_in, port_out = (a, b) if a.port_type == "in" else (b, a)
        target, source = self.gid(port_in.node.id), self.gid(port_out.node.id)
        if target is None or source is None:
            return None
        return Edge(source, port_out.name, target, port_in.name)

    def _on_connection_changed(self, disconnected: list, connected: list) -> None:
        removed = [(e.target, e.input) for pair in disconnected
                   if (e := self._edge_from_ports(*pair)) is not None]
        added = [e for pair in connected if (e := self._edge_from_ports(*pair)) is not None]
        problem = self.document.change_links(removed, added)
        if problem is not None:
            self.refused.emit(problem)
        self.sync()

    def _on_connection_sliced(self, ports: list) -> None:
        self._on_connection_changed(ports, [])

    def _on_value_edited(self, node_id: str, name: str, value: Any) -> None:
        self.document.set_value(node_id, name, value)  # the properties panel's path, too

    def _on_nodes_moved(self, moved: dict) -> None:
        positions = {gid: tuple(item.xy_pos) for item in moved
                     if (gid := self.gid(item.id)) is not None}
        self.document.move_nodes(positions)

    def _on_search_triggered(self, view_kind: str, pos: tuple) -> None:
        type_id = next((t for t, k in self._types.items() if k == view_kind), None)
        if type_id is not None:
            self.add_node(type_id, (pos[0], pos[1]))

    def _on_name_changed(self, view_id: str, name: str) -> None:
        gid = self.gid(view_id)
        if gid is not None:
            self.document.set_title(gid, name)
        self.sync()

    def _on_data_dropped(self, mime: Any, pos: Any) -> None:
        if mime.hasFormat(NODE_MIME):  # dragged from the Nodes list
            type_id = bytes(mime.data(NODE_MIME)).decode()
            if type_id in self.document.registry:
                self.add_node(type_id, (float(pos.x()), float(pos.y())))
            return
        paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        if paths:
            self.files_dropped.emit(paths, (float(pos.x()), float(pos.y())))
