"""Run states on the canvas's nodes (waiting, running with its step, done, failed, stale)
and live previews, for the graph in view: the workflow or the subgraph entered.

Events name nodes of the graph that runs, where a node inside a subgraph is ``outer/inner``
(``a/b/c`` when nested). At the workflow level such an event shows on the subgraph node
``a``; inside subgraph ``S`` entered through node ``a`` it shows on the inner node ``b``. The
states are remembered, so entering or leaving a subgraph shows what the run did there.

A mixin of :class:`app.gui.canvas.Canvas`; ``show_preview(node_id, pixmap)`` is the node
preview API other features (thumbnails, preprocessor previews) use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QPixmap

from app.engine.subgraphs import PREFIX
from app.gui.node_items import StudioNodeItem

if TYPE_CHECKING:
    from NodeGraphQt import BaseNode

    from app.gui.document import Document

State = tuple[str, str, "float | None", str]  # state, text, progress, error


class RunStates:
    document: Document
    _views: dict[str, BaseNode]
    _states: dict[str, State]  # event node id -> the last state it showed, oldest first

    def _shown_id(self, node_id: str) -> str | None:
        """The id, in the graph in view, of the node an event of ``node_id`` shows on."""
        parts = node_id.split("/")
        graph = self.document.root
        for depth, subgraph_id in enumerate(self.document.scope):
            node = graph.nodes.get(parts[depth]) if depth < len(parts) else None
            if node is None or node.type != PREFIX + subgraph_id \
                    or subgraph_id not in self.document.root.subgraphs:
                return None  # not run through the subgraph in view
            graph = self.document.root.subgraphs[subgraph_id].graph
        rest = parts[len(self.document.scope):]
        return rest[0] if rest else None

    def _run_view(self, node_id: str) -> BaseNode | None:
        shown = self._shown_id(node_id)
        return self._views.get(shown) if shown is not None else None

    def set_state(self, node_id: str, state: str, text: str = "",
                  progress: float | None = None, error: str = "") -> None:
        """Show a run state on a node; ``error`` (why it failed) goes in its tooltip."""
        self._states.pop(node_id, None)
        if state != "idle":
            self._states[node_id] = (state, text, progress, error)
        self._paint(node_id, (state, text, progress, error))

    def _paint(self, node_id: str, state: State) -> None:
        view = self._run_view(node_id)
        if view is not None and isinstance(view.view, StudioNodeItem):
            view.view.set_run_state(*state)

    def replay_states(self) -> None:
        """Show the remembered states on the graph now in view (after entering or leaving
        a subgraph), in the order they happened."""
        for node_id, state in list(self._states.items()):
            self._paint(node_id, state)

    def forget_states(self) -> None:
        """Another workflow is in view: its nodes have shown nothing yet."""
        self._states = {}

    def show_preview(self, node_id: str, pixmap: QPixmap) -> None:
        """Draw a live preview frame on the node's item (never through its properties)."""
        view = self._run_view(node_id)
        if view is not None and isinstance(view.view, StudioNodeItem):
            view.view.show_preview(pixmap)

    def clear_states(self) -> None:
        self._states = {}
        for node_id in self._views:
            view = self._views[node_id]
            if isinstance(view.view, StudioNodeItem):
                view.view.set_run_state("idle", "", None, "")

    def state_of(self, node_id: str) -> tuple[str, str]:
        view = self._run_view(node_id)
        if view is None or not isinstance(view.view, StudioNodeItem):
            return ("idle", "")
        return (view.view.run_state, view.view.status_text)
