"""Subgraphs in the window: collapse a selection, edit a subgraph in place, expand it again.

A subgraph node (``subgraph:<id>``) is drawn with the ports of its definition; double-click (or
"Edit Subgraph") opens its inner graph on the canvas, with a bar above it naming where you
are and a way back. Every change is one undo step of the whole workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QToolBar

from app.engine.graph import Edge, Graph, GraphError
from app.engine.subgraphs import PREFIX, collapse

if TYPE_CHECKING:
    from app.gui.document import Document
    from app.gui.window_api import StudioWindow


def subgraph_of(document: Document, node_id: str) -> str | None:
    """The subgraph id a node uses, or None when it is not a subgraph node."""
    node = document.graph.nodes.get(node_id)
    if node is None or not node.type.startswith(PREFIX):
        return None
    return node.type[len(PREFIX):]


def collapse_nodes(document: Document, node_ids: list[str], name: str) -> str | None:
    """Move ``node_ids`` into a new subgraph (one undo step); returns the new node's id."""
    made: list[str] = []

    def change(graph: Graph) -> None:
        # definitions live at the root, also when collapsing inside a subgraph
        own, graph.subgraphs = graph.subgraphs, document.root.subgraphs
        try:
            made.append(collapse(graph, node_ids, name, document.base_registry))
        finally:
            if graph is not document.root:
                graph.subgraphs = own

    try:
        document.edit(f"collapse to subgraph {name}", change)
    except GraphError:
        return None
    return made[0] if made else None


def expand_node(document: Document, node_id: str) -> list[str]:
    """Put a subgraph node's inner nodes back in its place (one undo step); the definition
    goes too when nothing else uses it. Returns the new nodes' ids."""
    subgraph_id = subgraph_of(document, node_id)
    if subgraph_id is None or subgraph_id not in document.root.subgraphs:
        return []
    made: list[str] = []

    def change(graph: Graph) -> None:
        user = graph.nodes[node_id]
        definition = document.root.subgraphs[subgraph_id]
        inner = definition.graph
        xs = [n.position[0] for n in inner.nodes.values()] or [0.0]
        ys = [n.position[1] for n in inner.nodes.values()] or [0.0]
        dx, dy = user.position[0] - min(xs), user.position[1] - min(ys)
        mapping: dict[str, str] = {}
        for old, node in inner.nodes.items():
            new = graph.add(node.type, title=node.title, values=dict(node.values),
                            position=(node.position[0] + dx, node.position[1] + dy))
            new.mode, new.type_version = node.mode, node.type_version
            mapping[old] = new.id
        edges = [Edge(mapping[e.source], e.output, mapping[e.target], e.input)
                 for e in inner.edges]
        ins = {p.name: p for p in definition.inputs}
        outs = {p.name: p for p in definition.outputs}
        for edge in graph.edges:
            if edge.target == node_id and edge.input in ins:
                port = ins[edge.input]
                edges.append(Edge(edge.source, edge.output, mapping[port.node], port.port))
            elif edge.source == node_id and edge.output in outs:
                port = outs[edge.output]
                edges.append(Edge(mapping[port.node], port.port, edge.target, edge.input))
        graph.remove(node_id)
        graph.edges.extend(edges)
        if not _used(document.root, subgraph_id):
            del document.root.subgraphs[subgraph_id]
        made.extend(mapping.values())

    document.edit("expand subgraph", change)
    return made


def _used(root: Graph, subgraph_id: str) -> bool:
    wanted = PREFIX + subgraph_id
    graphs = [root, *(s.graph for s in root.subgraphs.values())]
    return any(n.type == wanted for g in graphs for n in g.nodes.values())


def scope_names(document: Document) -> list[str]:
    """The workflow, then each subgraph entered, by name."""
    return ["Workflow", *(document.root.subgraphs[s].name for s in document.scope
                          if s in document.root.subgraphs)]


class SubgraphBar(QToolBar):
    """Shown while a subgraph is open: where you are (Workflow › Upscale) and the way back.
    It shows the current tab; ``watch`` each tab's document, ``refresh`` on a tab switch."""

    def __init__(self, window: StudioWindow) -> None:
        super().__init__("Subgraph", window)  # type: ignore[arg-type]
        self.setObjectName("subgraph_bar")
        self.window = window
        self.back = self.addAction("◀ Back", lambda: self.document.leave())
        self.back.setToolTip("Back to the graph this subgraph is used in")
        self.top = self.addAction("Workflow", lambda: self.document.leave(len(
            self.document.scope)))
        self.top.setToolTip("Back to the whole workflow")
        self.label = QLabel()
        self.addWidget(self.label)

    @property
    def document(self) -> Document:
        return self.window.document

    def watch(self, document: Document) -> None:
        document.scope_changed.connect(self.refresh)
        document.changed.connect(lambda *_: self.refresh())

    def refresh(self) -> None:
        self.label.setText("  " + " › ".join(scope_names(self.document)))
        self.setVisible(bool(self.document.scope))
