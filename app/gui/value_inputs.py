"""Values turned into inputs: a node's value field shown as an input port a link can drive.

The engine accepts a link into any value input of a matching kind (``feeds_value``). A value
with an incoming link is always drawn as a port (its field disabled); one converted by the user
but not linked yet is remembered in ``graph.metadata["value_inputs"]`` ({node id: [names]}),
so it is saved with the workflow. "Convert back" removes the port and its link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.ports import VALUE_TYPES

KEY = "value_inputs"


class Document(Protocol):
    """What converting needs of app.gui.document.Document (which imports this module)."""

    @property
    def graph(self) -> Graph: ...
    @property
    def registry(self) -> Registry: ...
    def edit(self, label: str, change: Callable[[Graph], object]) -> None: ...


def convertible(graph: Graph, registry: Registry, node_id: str) -> list[str]:
    """The values of ``node_id`` a link could drive, in declared order."""
    node = graph.nodes.get(node_id)
    spec = registry.get(node.type) if node is not None else None
    return [v.name for v in spec.values if v.type in VALUE_TYPES] if spec else []


def _saved(graph: Graph, node_id: str) -> list[str]:
    saved = graph.metadata.get(KEY, {})
    names = saved.get(node_id, []) if isinstance(saved, dict) else []
    return [n for n in names if isinstance(n, str)]


def value_ports(graph: Graph, registry: Registry, node_id: str) -> list[str]:
    """Values of ``node_id`` drawn as input ports: linked or converted, in declared order."""
    linked = {e.input for e in graph.edges if e.target == node_id}
    saved = set(_saved(graph, node_id))
    return [n for n in convertible(graph, registry, node_id) if n in linked or n in saved]


def linked_values(graph: Graph, node_id: str) -> set[str]:
    return {e.input for e in graph.edges if e.target == node_id}


def _set_saved(graph: Graph, node_id: str, names: list[str]) -> None:
    saved = dict(graph.metadata.get(KEY) or {})
    if names:
        saved[node_id] = names
    else:
        saved.pop(node_id, None)
    if saved:
        graph.metadata[KEY] = saved
    else:
        graph.metadata.pop(KEY, None)


def convert_to_input(document: Document, node_id: str, name: str) -> None:
    """Show value ``name`` of ``node_id`` as an input port: one undo step."""
    def change(graph: Graph) -> None:
        names = _saved(graph, node_id)
        if name not in names:
            _set_saved(graph, node_id, [*names, name])

    if name in convertible(document.graph, document.registry, node_id):
        document.edit(f"convert {name} to input", change)


def convert_back(document: Document, node_id: str, name: str) -> None:
    """Back to a plain field: the port and its link go, as one undo step."""
    def change(graph: Graph) -> None:
        graph.disconnect(node_id, name)
        _set_saved(graph, node_id, [n for n in _saved(graph, node_id) if n != name])

    document.edit(f"convert {name} back", change)


def fragment_extra(graph: Graph, node_id: str) -> dict[str, Any]:
    """What a copied node carries about its converted values."""
    names = _saved(graph, node_id)
    return {KEY: names} if names else {}


def paste_extra(graph: Graph, node_id: str, item: dict[str, Any]) -> None:
    names = item.get(KEY)
    if isinstance(names, list) and names:
        _set_saved(graph, node_id, [n for n in names if isinstance(n, str)])
