"""Bypassed and muted nodes: the graph a run really executes.

A **bypassed** node does not run; each of its outputs is fed, instead, by the node feeding its
first input of the same port type (ComfyUI's bypass). An output with no such input is left
unconnected, so what needed it is reported as a missing input. A **muted** node does not run,
and neither does any node that needs one of its outputs (a required link); optional inputs fed
by it are left empty. Both modes are saved in workflow files and honoured by every front end,
because the executor and validation run :func:`active_graph`, never the graph as drawn.
Reroute nodes (``passthrough`` declarations) are wired through the same way, always.
"""

from __future__ import annotations

from app.engine.graph import BYPASS, MUTE, NORMAL, Edge, Graph, NodeInstance
from app.engine.registry import Registry
from node_api.declaration import Link
from node_api.ports import compatible


def active_graph(graph: Graph, registry: Registry) -> Graph:
    """``graph`` without its bypassed and muted nodes (the same object when there are none)."""
    def passes_through(node: NodeInstance) -> bool:
        spec = registry.get(node.type)
        return node.mode == BYPASS or (spec is not None and spec.passthrough)

    if all(node.mode == NORMAL and not passes_through(node) for node in graph.nodes.values()):
        return graph
    active = graph.copy()
    for node_id in [i for i, n in graph.nodes.items() if passes_through(n)]:
        _bypass(active, node_id, registry)
    muted = [i for i, n in graph.nodes.items() if n.mode == MUTE]
    while muted:
        node_id = muted.pop()
        if node_id not in active.nodes:
            continue
        for edge in active.outgoing(node_id):
            link = _link(registry, active, edge.target, edge.input)
            if link is not None and not link.optional:
                muted.append(edge.target)  # it cannot run without this input
        active.remove(node_id)
    return active


def _bypass(graph: Graph, node_id: str, registry: Registry) -> None:
    node = graph.nodes[node_id]
    spec = registry.get(node.type)
    incoming = graph.incoming(node_id)
    rewired: list[Edge] = []
    for edge in graph.outgoing(node_id):
        output = spec.output(edge.output) if spec else None
        source = None
        if output is not None and spec is not None:
            source = next(
                (incoming[link.name] for link in spec.links
                 if compatible(link.type, output.type) and link.name in incoming),
                None,
            )
        if source is not None:
            rewired.append(Edge(source.source, source.output, edge.target, edge.input))
    graph.remove(node_id)
    graph.edges.extend(rewired)


def _link(registry: Registry, graph: Graph, node_id: str, name: str) -> Link | None:
    spec = registry.get(graph.nodes[node_id].type)
    return next((link for link in spec.links if link.name == name), None) if spec else None
