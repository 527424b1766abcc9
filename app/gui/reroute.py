"""Reroute nodes (``utility.reroute``): a bend in a link, added from the canvas menu or by
double-clicking a link, which is split through the new reroute as one undo step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPointF

from app.engine.graph import Edge, Graph

if TYPE_CHECKING:
    from app.gui.canvas import Canvas
    from app.gui.document import Document

REROUTE = "utility.reroute"
OFFSET = (22.0, 13.0)  # half a reroute: it is centred where it was asked for


def split_link(doc: Document, edge: Edge, at: tuple[float, float]) -> str | None:
    """Put a reroute at ``at`` in the middle of ``edge``; returns its id."""
    made: list[str] = []
    if REROUTE not in doc.registry or edge not in doc.graph.edges:
        return None

    def change(graph: Graph) -> None:
        node = graph.add(REROUTE, registry=doc.registry,
                         position=(round(at[0] - OFFSET[0]), round(at[1] - OFFSET[1])))
        graph.disconnect(edge.target, edge.input)
        graph.connect(edge.source, edge.output, node.id, "input")
        graph.connect(node.id, "output", edge.target, edge.input)
        made.append(node.id)

    doc.edit("add reroute", change)
    return made[0] if made else None


class Reroutes(QObject):
    """Double-click on a link inserts a reroute there."""

    def __init__(self, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        canvas.graph_view.viewer().pipe_double_clicked.connect(self._on_pipe)

    def _on_pipe(self, pipe: Any, at: QPointF) -> None:
        if pipe.input_port is None or pipe.output_port is None:
            return
        edge = self.canvas._edge_from_ports(pipe.input_port, pipe.output_port)
        if edge is not None:
            made = split_link(self.canvas.document, edge, (at.x(), at.y()))
            if made is not None:
                self.canvas.select([made])

    def add(self, at: tuple[float, float]) -> str | None:
        """A free reroute at ``at`` (canvas menu)."""
        if REROUTE not in self.canvas.document.registry:
            return None
        return self.canvas.add_node(REROUTE, (at[0] - OFFSET[0], at[1] - OFFSET[1]))
