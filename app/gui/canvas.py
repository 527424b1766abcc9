"""The NodeGraphQt canvas as a view of the Document: user gestures become Document edits.

NodeGraphQt's own handlers (which push onto its undo stack) are unhooked from the viewer;
ours turn each gesture into a Document edit and then reconcile the view with the Graph.
"""

from __future__ import annotations

from typing import Any

from NodeGraphQt import BaseNode, NodeGraph
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.engine.graph import Edge
from app.gui.canvas_commands import CanvasCommands
from app.gui.canvas_gestures import CanvasGestures
from app.gui.document import Document
from app.gui.groups import GroupLayer
from app.gui.model_hints import defaults_for, graph_model
from app.gui.node_items import (
    PlaceholderNode,
    StudioNodeItem,
    node_classes,
    port_tooltip,
    view_type,
)
from app.gui.node_widgets import NodeValues
from app.gui.run_states import RunStates, State
from app.gui.theme import BACKGROUND, type_colour
from app.gui.value_inputs import linked_values, value_ports
from app.gui.viewer import StudioViewer


class Canvas(CanvasGestures, CanvasCommands, RunStates, QObject):
    """Keeps a NodeGraph in step with a Document.

    Signals:
        selection_changed(list[str]): graph ids of the selected nodes.
        refused(str): a gesture was refused (e.g. incompatible port types); says why.
        files_dropped(list[Path], tuple): files dropped on the canvas, at scene (x, y).
    """

    selection_changed = Signal(list)
    refused = Signal(str)
    files_dropped = Signal(list, tuple)

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph_view = NodeGraph(viewer=StudioViewer())
        self.graph_view.set_background_color(*BACKGROUND)
        self.graph_view.set_grid_color(40, 43, 48)
        self.graph_view.set_acyclic(False)  # cycles reach the Document, which says why not
        self._classes = node_classes(document.base_registry)
        self.graph_view.register_nodes([*self._classes.values(), PlaceholderNode])
        self._types = {tid: view_type(spec) for tid in self._classes
                       if (spec := document.base_registry.get(tid)) is not None}
        self._dynamic: set[str] = set()  # registered classes of subgraph nodes
        self._views: dict[str, BaseNode] = {}
        self._ids: dict[str, str] = {}  # NodeGraphQt id -> graph id
        self._syncing = False
        self._reroute()
        self._values: dict[str, NodeValues] = {}  # graph id -> the editors inside its node
        self._states: dict[str, State] = {}
        self.groups = GroupLayer(document, self.graph_view.scene(), self._move_views)
        document.changed.connect(self._on_document_changed)
        document.replaced.connect(self._on_replaced)
        document.scope_changed.connect(self._on_scope_changed)
        self.graph_view.node_double_clicked.connect(self._on_double_clicked)
        self.sync()

    # -- wiring ------------------------------------------------------------------------
    def _reroute(self) -> None:
        ng, viewer = self.graph_view, self.graph_view.viewer()
        for signal, theirs, ours in (
            (viewer.connection_changed, ng._on_connection_changed, self._on_connection_changed),
            (viewer.connection_sliced, ng._on_connection_sliced, self._on_connection_sliced),
            (viewer.moved_nodes, ng._on_nodes_moved, self._on_nodes_moved),
            (viewer.search_triggered, ng._on_search_triggered, self._on_search_triggered),
            (viewer.node_name_changed, ng._on_node_name_changed, self._on_name_changed),
            (viewer.data_dropped, ng._on_node_data_dropped, self._on_data_dropped),
            (viewer.insert_node, ng._on_insert_node, None),
        ):
            signal.disconnect(theirs)
            if ours is not None:
                signal.connect(ours)
        ng.node_selection_changed.connect(lambda *_: self._emit_selection())

    @property
    def widget(self) -> QWidget:
        return self.graph_view.widget

    def gid(self, view_node: Any) -> str | None:
        """The graph id of a NodeGraphQt node, node item or node id."""
        key = view_node if isinstance(view_node, str) else view_node.id
        return self._ids.get(key)

    def view_node(self, node_id: str) -> BaseNode | None:
        return self._views.get(node_id)

    # -- reconcile ---------------------------------------------------------------------
    def _on_document_changed(self, kind: str, node_id: object) -> None:
        if kind == "value" and isinstance(node_id, str):
            self._show_values(node_id)  # cheap: only that node's editors, and only if changed
        else:
            self.sync()

    def sync(self) -> None:
        """Make the view show exactly the Document's graph (nodes, titles, positions, links)."""
        self._syncing = True
        try:
            self._sync_nodes()
            self._sync_links()
            self.groups.sync()
        finally:
            self._syncing = False

    def _sync_nodes(self) -> None:
        graph = self.document.graph
        for node_id in list(self._views):
            node = graph.nodes.get(node_id)
            # an id reused by another type (open, undo): its ports and editors are wrong
            if node is None or self._views[node_id].type_ != self._kind(node.type) or \
                    getattr(self._views[node_id], "value_ports", []) != self._value_ports(node_id):
                self._drop_view(node_id)
        for node_id, node in graph.nodes.items():
            view = self._views.get(node_id)
            if view is None:
                view_kind = self._kind(node.type)
                view = self.graph_view.create_node(view_kind, selected=False, push_undo=False,
                                                   pos=list(node.position))
                self._views[node_id] = view
                self._ids[view.id] = node_id
                self._add_value_ports(node_id, view)
                self._embed_values(node_id, view)
            title = node.title if node.type in self.document.registry \
                else f"{node.title} (missing: {node.type})"
            if view.view.name != title:
                view.model.name = title
                view.view.name = title
            x, y = node.position
            if tuple(view.view.xy_pos) != (x, y):
                view.model.pos = [x, y]
                view.view.xy_pos = [x, y]
            if isinstance(view.view, StudioNodeItem):
                view.view.set_mode(node.mode)
                view.model.color = view.view.set_look(node.colour, node.pinned)
            self._show_values(node_id)

    def _value_ports(self, node_id: str) -> list[str]:
        return value_ports(self.document.graph, self.document.registry, node_id)

    def _add_value_ports(self, node_id: str, view: BaseNode) -> None:
        """Input ports for the node's values that are linked or converted to inputs."""
        spec = self.document.registry.get(self.document.graph.nodes[node_id].type)
        view.value_ports = self._value_ports(node_id)
        for name in view.value_ports:
            decl = spec.input(name) if spec is not None else None
            kind = getattr(decl, "type", "*")
            port = view.add_input(name, multi_input=False, color=type_colour(kind))
            port.view.setToolTip(port_tooltip(name, kind, getattr(decl, "description", ""),
                                              "a value driven by a link"))

    def _drop_view(self, node_id: str) -> None:
        view = self._views.pop(node_id)
        self._ids.pop(view.id, None)
        self._values.pop(node_id, None)
        self.graph_view.remove_node(view, push_undo=False)

    def _on_replaced(self) -> None:
        """A new document (open, new, drop): draw it from scratch, no state carried over."""
        self.forget_states()
        self._redraw()

    def _on_scope_changed(self) -> None:
        """A subgraph was entered or left: draw that graph, with what the run did there."""
        self._redraw()
        self.replay_states()

    def _redraw(self) -> None:
        self._syncing = True
        try:
            for node_id in list(self._views):
                self._drop_view(node_id)
            self.groups.clear()
        finally:
            self._syncing = False
        self.sync()
        self._emit_selection()

    def _embed_values(self, node_id: str, view: BaseNode) -> None:
        """Put the node's value editors in its body, outside NodeGraphQt's property system."""
        node = self.document.graph.nodes[node_id]
        spec = self.document.registry.get(node.type)
        if spec is None or not spec.values:
            return
        values = NodeValues(spec, node.values, view.view)
        values.edited.connect(lambda name, value, gid=node_id: self._on_value_edited(gid, name,
                                                                                     value))
        view.view.add_widget(values)
        view.view.draw_node()
        self._values[node_id] = values

    def _show_values(self, node_id: str) -> None:
        values, node = self._values.get(node_id), self.document.graph.nodes.get(node_id)
        if values is not None and node is not None:
            values.set_value(node.values)
            linked = linked_values(self.document.graph, node_id)
            for name, editor in values.editors.items():  # a linked value is not typed in
                editor.setEnabled(name not in linked)
                if getattr(editor.decl, "kind", "") == "image":
                    self._show_file(node_id, node.values.get(name))

    def node_values(self, node_id: str) -> NodeValues | None:
        """The editors embedded in a node (None for nodes without declared values)."""
        return self._values.get(node_id)

    def _view_links(self) -> set[Edge]:
        links: set[Edge] = set()
        for target_id, view in self._views.items():
            for name, port in view.inputs().items():
                for other in port.connected_ports():
                    source_id = self.gid(other.node())
                    if source_id is not None:
                        links.add(Edge(source_id, other.name(), target_id, name))
        return links

    def _sync_links(self) -> None:
        wanted = set(self.document.graph.edges)
        shown = self._view_links()
        for edge in shown - wanted:
            target, source = self._views[edge.target], self._views[edge.source]
            target.inputs()[edge.input].disconnect_from(
                source.outputs()[edge.output], push_undo=False, emit_signal=False)
        for edge in wanted - shown:
            target, source = self._views.get(edge.target), self._views.get(edge.source)
            if target is None or source is None:
                continue
            port_in = target.inputs().get(edge.input)
            port_out = source.outputs().get(edge.output)
            if port_in is not None and port_out is not None:
                port_out.connect_to(port_in, push_undo=False, emit_signal=False)
                self._colour_pipes(port_in)

    def _colour_pipes(self, port_in: Any) -> None:
        """Pipes take their input port's type colour (NodeGraphQt draws them all orange)."""
        colour = tuple(port_in.view.color[:3]) + (255,)
        for pipe in port_in.view.connected_pipes:
            pipe.color = colour
            pipe.reset()

    # -- commands ----------------------------------------------------------------------
    def add_node(self, type_id: str, position: tuple[float, float] | None = None) -> str:
        """Add a node at ``position`` (default: the middle of the view) and select it; its
        image size and cfg come from the model the graph loads, when known."""
        if position is None:
            position = self.view_centre()
        spec, found = self.document.registry.get(type_id), graph_model(
            self.document.graph, self.document.registry)
        values = defaults_for(spec, found[1]) if spec and found else None
        node_id = self.document.add_node(type_id, position, values=values or None)
        self.select([node_id])
        return node_id

    def _emit_selection(self) -> None:
        if not self._syncing:
            self.selection_changed.emit(self.selected_ids())
