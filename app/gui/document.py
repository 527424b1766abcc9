"""The open workflow: the engine Graph (the truth), its file, dirty state and undo history.

Every edit from any view (canvas, properties panel, drops, paste) goes through here, so undo,
the unsaved marker and the views stay consistent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.engine.graph import NORMAL, Edge, Graph, GraphError
from app.engine.registry import Registry
from app.gui.fragments import FRAGMENT_FORMAT, DocumentFragments
from app.gui.history import History
from node_api.declaration import Link
from node_api.ports import compatible, feeds_value

__all__ = ["FRAGMENT_FORMAT", "Document"]


class Document(DocumentFragments, QObject):
    """The workflow being edited.

    Signals:
        changed(kind, node_id): kind is "reset" (whole graph replaced), "structure"
            (nodes, links, positions or titles) or "value" (one node's value).
        replaced(): another workflow was loaded (open/new/drop), before ``changed("reset")``;
            views drop everything they showed for the old one (run states, previews).
        dirty_changed(bool), path_changed(object)
        scope_changed(): a subgraph was entered or left; views redraw ``graph`` from scratch.

    ``root`` is the workflow; ``graph`` is what is being edited: the root, or the inner graph
    of the subgraph entered (``scope``, the subgraph ids entered in turn). Undo, dirty state
    and files always cover the whole root.
    """

    changed = Signal(str, object)
    replaced = Signal()
    dirty_changed = Signal(bool)
    path_changed = Signal(object)
    scope_changed = Signal()

    def __init__(self, registry: Registry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.base_registry = registry
        self.root = Graph()
        self.scope: list[str] = []
        self._specs: tuple[dict, Registry] | None = None
        self.path: Path | None = None
        self.source: Path | None = None  # the image an untitled workflow was opened from
        self.history = History()
        self._saved = Graph()
        self._dirty = False

    # -- scope -------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The graph being edited: the root, or the entered subgraph's inner graph."""
        if self.scope and self.scope[-1] in self.root.subgraphs:
            return self.root.subgraphs[self.scope[-1]].graph
        return self.root

    @graph.setter
    def graph(self, graph: Graph) -> None:
        if self.scope and self.scope[-1] in self.root.subgraphs:
            self.root.subgraphs[self.scope[-1]].graph = graph
        else:
            self.root = graph

    @property
    def registry(self) -> Registry:
        """The node types, with the workflow's subgraph node types (``subgraph:<id>``)."""
        subgraphs = self.root.subgraphs
        if not subgraphs:
            return self.base_registry
        if self._specs is None or self._specs[0] != subgraphs:
            from app.engine.subgraphs import registry_for

            self._specs = (copy.deepcopy(subgraphs), registry_for(self.root,
                                                                  self.base_registry))
        return self._specs[1]

    def enter(self, subgraph_id: str) -> None:
        """Edit the inner graph of subgraph ``subgraph_id`` (double-click on its node)."""
        if subgraph_id in self.root.subgraphs:
            self.scope.append(subgraph_id)
            self.scope_changed.emit()

    def leave(self, levels: int = 1) -> None:
        """Back out of ``levels`` entered subgraphs (towards the root)."""
        if self.scope and levels > 0:
            del self.scope[-levels:]
            self.scope_changed.emit()

    def _check_scope(self) -> None:
        """After undo/redo: leave subgraphs that no longer exist."""
        kept = [s for s in self.scope if s in self.root.subgraphs]
        if kept != self.scope:
            self.scope = kept
            self.scope_changed.emit()

    # -- whole documents ---------------------------------------------------------------
    def load(self, graph: Graph, path: Path | None, source: Path | None = None) -> None:
        """Replace the document (open/new); clears undo and marks it saved. ``source``: the
        image it came from, when it has no file of its own (named in the tab and title)."""
        had_scope, self.scope = bool(self.scope), []
        if had_scope:
            self.scope_changed.emit()
        self.root = graph
        self.path, self.source = path, source if path is None else None
        self._saved = graph.copy()
        self.history.clear()
        self.replaced.emit()
        self.changed.emit("reset", None)
        self.path_changed.emit(path)
        self._update_dirty()

    def mark_saved(self, path: Path) -> None:
        self.path, self.source = path, None
        self._saved = self.root.copy()
        self.history.seal()
        self.path_changed.emit(path)
        self._update_dirty()

    @property
    def name(self) -> str:
        """What the tab and the title call it: its file's name, else the image it came from,
        else Untitled."""
        if self.path is not None:
            return self.path.name
        return self.source.name if self.source is not None else "Untitled"

    @property
    def dirty(self) -> bool:
        return self._dirty

    def _update_dirty(self) -> None:
        dirty = self.root != self._saved
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    def _commit(self, label: str, before: Graph, kind: str = "structure",
                node_id: str | None = None, merge_key: object | None = None) -> None:
        if self.root == before:
            return
        self.history.record(label, before, merge_key)
        self.changed.emit(kind, node_id)
        self._update_dirty()

    # -- undo --------------------------------------------------------------------------
    def undo(self) -> bool:
        return self._restore(self.history.undo(self.root))

    def redo(self) -> bool:
        return self._restore(self.history.redo(self.root))

    def _restore(self, graph: Graph | None) -> bool:
        if graph is None:
            return False
        self.root = graph
        self._check_scope()
        self.changed.emit("reset", None)
        self._update_dirty()
        return True

    # -- edits -------------------------------------------------------------------------
    def edit(self, label: str, change: Callable[[Graph], object]) -> None:
        """Apply ``change`` to the graph as one undo step named ``label`` (no step when it
        changes nothing). Feature modules (groups, subgraphs, ...) edit through this."""
        before = self.root.copy()
        try:
            change(self.graph)
        except GraphError:
            self.root = before
            raise
        self._commit(label, before)

    def add_node(self, type_id: str, position: tuple[float, float] = (0.0, 0.0),
                 values: dict[str, Any] | None = None, title: str | None = None) -> str:
        before = self.root.copy()
        node = self.graph.add(type_id, registry=self.registry, values=values, title=title,
                              position=(float(position[0]), float(position[1])))
        self._commit(f"add {node.title}", before)
        return node.id

    def remove_nodes(self, node_ids: Iterable[str]) -> None:
        before = self.root.copy()
        for node_id in list(node_ids):
            self.graph.remove(node_id)
        self._commit("delete", before)

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> None:
        before = self.root.copy()
        for node_id, (x, y) in positions.items():
            if node_id in self.graph.nodes:
                self.graph.nodes[node_id].position = (round(float(x), 1), round(float(y), 1))
        self._commit("move", before)

    def set_title(self, node_id: str, title: str) -> None:
        before = self.root.copy()
        if node_id in self.graph.nodes and title.strip():
            self.graph.nodes[node_id].title = title.strip()
        self._commit("rename", before)

    def set_value(self, node_id: str, name: str, value: Any) -> None:
        """Change one value; successive edits of the same field merge into one undo step."""
        node = self.graph.nodes.get(node_id)
        if node is None or node.values.get(name) == value:
            return
        before = self.root.copy()
        node.values[name] = value
        self._commit(f"edit {name}", before, "value", node_id, merge_key=(node_id, name))

    def toggle_mode(self, node_ids: Iterable[str], mode: str) -> None:
        """Bypass or mute ``node_ids`` (back to normal when all already have ``mode``): one
        undo step."""
        nodes = [self.graph.nodes[i] for i in node_ids if i in self.graph.nodes]
        if not nodes:
            return
        new = NORMAL if all(n.mode == mode for n in nodes) else mode
        before = self.root.copy()
        for node in nodes:
            node.mode = new
        self._commit(mode if new != NORMAL else f"un{mode}", before)

    def change_links(self, removed: Iterable[tuple[str, str]],
                     added: Iterable[Edge]) -> str | None:
        """Disconnect inputs and connect links as one edit.

        Returns:
            None when done, else why it was refused (nothing is changed then).
        """
        before = self.root.copy()
        for target, name in removed:
            self.graph.disconnect(target, name)
        for edge in added:
            problem = self.link_problem(edge)
            if problem is None:
                self.graph.connect(edge.source, edge.output, edge.target, edge.input)
                try:
                    self.graph.topological_order()
                except GraphError:
                    problem = "that link would make a cycle"
            if problem is not None:
                self.root = before
                return problem
        self._commit("connect" if added else "disconnect", before)
        return None

    def link_problem(self, edge: Edge) -> str | None:
        """Why ``edge`` cannot be made, or None when the port types fit."""
        source, target = self.graph.nodes.get(edge.source), self.graph.nodes.get(edge.target)
        if source is None or target is None:
            return "that node no longer exists"
        sspec, tspec = self.registry.get(source.type), self.registry.get(target.type)
        if sspec is None or tspec is None:
            return "unknown node type"
        port_out, port_in = sspec.output(edge.output), tspec.input(edge.input)
        if port_out is None or port_in is None:
            return "no such port"
        if edge.source == edge.target:
            return "a node cannot feed itself"
        if not isinstance(port_in, Link):  # a value turned into an input
            if feeds_value(port_out.type, port_in.type):
                return None
            return (f"cannot drive {port_in.type} value '{edge.input}' of {target.label()} "
                    f"from {port_out.type} output '{edge.output}' of {source.label()}")
        if not compatible(port_out.type, port_in.type):
            return (f"cannot connect {port_out.type} output '{edge.output}' of "
                    f"{source.label()} to {port_in.type} input '{edge.input}' of "
                    f"{target.label()}")
        return None
