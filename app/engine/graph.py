"""The graph model: node instances with stable ids, values and positions, and links.

This is the one graph of the application; the GUI canvas is only a view of it.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.engine.registry import Registry
from pipelines.errors import StudioError


@dataclass(frozen=True)
class Edge:
    """A link from ``source``'s output ``output`` to ``target``'s input ``input``."""

    source: str
    output: str
    target: str
    input: str


NORMAL, BYPASS, MUTE = "normal", "bypass", "mute"
MODES: tuple[str, ...] = (NORMAL, BYPASS, MUTE)


@dataclass
class NodeInstance:
    id: str
    type: str
    title: str
    values: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    type_version: int = 1
    # bypass: the node passes an input of the matching type through; mute: it and what
    # needs it do not run (app.engine.modes)
    mode: str = NORMAL
    # how the canvas draws it, saved in the workflow; nothing a run reads: "#rrggbb" or None
    # for its category's colour, and pinned (not moved by dragging)
    colour: str | None = None
    pinned: bool = False

    def label(self) -> str:
        """How messages name this node: ``'Sampler' (#5)``."""
        return f"'{self.title}' (#{self.id})"


def numeric_id(node_id: str) -> bool:
    """Whether a node id is a plain number (ASCII digits, short enough for ``int``)."""
    return node_id.isascii() and node_id.isdigit() and len(node_id) <= 18


class GraphError(StudioError, ValueError):
    """An edit to the graph that cannot be made (unknown node, port taken, ...)."""


@dataclass(frozen=True)
class SubgraphPort:
    """A port of a subgraph node, wired to ``port`` (an input or output) of inner ``node``."""

    name: str
    type: str
    node: str
    port: str


@dataclass
class Subgraph:
    """A reusable group of nodes, used by nodes of type ``subgraph:<id>`` (app.engine.subgraphs).

    Its definition is saved inside the workflow file; the engine expands it before a run.
    """

    name: str
    graph: Graph
    inputs: list[SubgraphPort] = field(default_factory=list)
    outputs: list[SubgraphPort] = field(default_factory=list)


@dataclass
class Group:
    """A titled, coloured frame drawn behind nodes; the nodes inside it move with it.

    Only the window gives it meaning: the engine never looks at groups.
    """

    title: str
    bounds: tuple[float, float, float, float]  # x, y, width, height on the canvas
    colour: str = "#3f5a7a"


@dataclass
class Graph:
    nodes: dict[str, NodeInstance] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # definitions used by this graph's subgraph nodes (and by nested ones), by id
    subgraphs: dict[str, Subgraph] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    # -- editing ---------------------------------------------------------------
    def new_id(self) -> str:
        numeric = [int(i) for i in self.nodes if numeric_id(i)]
        return str(max(numeric, default=0) + 1)

    def add(
        self,
        type_id: str,
        *,
        registry: Registry | None = None,
        title: str | None = None,
        values: dict[str, Any] | None = None,
        position: tuple[float, float] = (0.0, 0.0),
        node_id: str | None = None,
    ) -> NodeInstance:
        """Add a node; defaults come from the registry's declaration when given."""
        node_id = node_id or self.new_id()
        if node_id in self.nodes:
            raise GraphError(f"node id {node_id!r} is already used")
        spec = registry.get(type_id) if registry is not None else None
        merged = spec.default_values() if spec else {}
        merged.update(values or {})
        instance = NodeInstance(
            id=node_id,
            type=type_id,
            title=title or (spec.title if spec else type_id),
            values=merged,
            position=(float(position[0]), float(position[1])),
            type_version=spec.version if spec else 1,
        )
        self.nodes[node_id] = instance
        return instance

    def remove(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)
        self.edges = [e for e in self.edges if node_id not in (e.source, e.target)]

    def connect(self, source: str, output: str, target: str, input: str) -> Edge:
        """Link an output to an input, replacing any link the input already had."""
        for node_id in (source, target):
            if node_id not in self.nodes:
                raise GraphError(f"no node with id {node_id!r}")
        self.disconnect(target, input)
        edge = Edge(source, output, target, input)
        self.edges.append(edge)
        return edge

    def disconnect(self, target: str, input: str) -> None:
        self.edges = [e for e in self.edges if (e.target, e.input) != (target, input)]

    # -- queries ---------------------------------------------------------------
    def find(self, ref: str) -> NodeInstance | None:
        """A node by id, or else by exact title (case-insensitive when unambiguous)."""
        if ref in self.nodes:
            return self.nodes[ref]
        exact = [n for n in self.nodes.values() if n.title == ref]
        if len(exact) == 1:
            return exact[0]
        folded = [n for n in self.nodes.values() if n.title.casefold() == ref.casefold()]
        return folded[0] if len(folded) == 1 else None

    def incoming(self, node_id: str) -> dict[str, Edge]:
        return {e.input: e for e in self.edges if e.target == node_id}

    def outgoing(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node_id]

    def ancestors(self, targets: list[str]) -> set[str]:
        """``targets`` and every node they depend on."""
        sources: dict[str, list[str]] = {}
        for e in self.edges:
            sources.setdefault(e.target, []).append(e.source)
        seen: set[str] = set()
        stack = list(targets)
        while stack:
            current = stack.pop()
            if current in seen or current not in self.nodes:
                continue
            seen.add(current)
            stack.extend(sources.get(current, ()))
        return seen

    def topological_order(self, subset: set[str] | None = None) -> list[str]:
        """Node ids in dependency order (Kahn); raises GraphError on a cycle."""
        ids = [i for i in self.nodes if subset is None or i in subset]
        wanted = set(ids)
        indegree = {i: 0 for i in ids}
        targets: dict[str, list[str]] = {}  # in edge order, so the order is stable
        for e in self.edges:
            if e.source in wanted and e.target in wanted:
                indegree[e.target] += 1
                targets.setdefault(e.source, []).append(e.target)
        ready = deque(i for i in ids if indegree[i] == 0)
        order: list[str] = []
        while ready:
            current = ready.popleft()
            order.append(current)
            for target in targets.get(current, ()):
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        if len(order) != len(ids):
            stuck = sorted(set(ids) - set(order), key=_id_key)
            raise GraphError(f"the graph has a cycle through nodes {', '.join(stuck)}")
        return order

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.nodes == other.nodes
            and sorted(self.edges, key=_edge_key) == sorted(other.edges, key=_edge_key)
            and self.metadata == other.metadata
            and self.subgraphs == other.subgraphs
            and self.groups == other.groups
        )


def _id_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def _edge_key(edge: Edge) -> tuple[str, str, str, str]:
    return (edge.target, edge.input, edge.source, edge.output)
