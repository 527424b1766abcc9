"""Subgraphs: a selection collapsed into one node with its own inputs and outputs.

A definition (``Graph.subgraphs[id]``, saved in the workflow file) holds the inner graph and
which inner input or output each of its ports stands for. A node of type ``subgraph:<id>``
uses it; it can be used several times and may contain other subgraph nodes. Before a run,
:func:`runnable` turns the drawn graph into the one that executes: bypassed and muted nodes
resolved, every subgraph node replaced by a copy of its inner nodes (ids ``outer/inner``,
titles ``Outer › Inner``), reroutes wired through. Validation reports on that graph, so a
problem inside a subgraph names the node inside it.
"""

from __future__ import annotations

from typing import Any, NoReturn

from app.engine.graph import Edge, Graph, GraphError, NodeInstance, Subgraph, SubgraphPort
from app.engine.modes import active_graph
from app.engine.registry import Registry
from node_api.declaration import Link, NodeSpec, Output

PREFIX = "subgraph:"
MAX_DEPTH = 16  # nesting deeper than this is refused (a definition that uses itself, ...)
MAX_NODES = 20_000  # what expansion may grow to (definitions using others twice, nested)


def type_id(subgraph_id: str) -> str:
    return f"{PREFIX}{subgraph_id}"


def spec_for(subgraph_id: str, subgraph: Subgraph) -> NodeSpec:
    """The declaration a subgraph node has: its ports, never a function of its own."""

    def never(ctx: Any, **inputs: Any) -> NoReturn:
        raise GraphError(f"subgraph {subgraph.name!r} runs through its inner nodes")

    return NodeSpec(
        type_id=type_id(subgraph_id), title=subgraph.name, category="subgraphs",
        description="Nodes collapsed into one; double-click to edit them.",
        version=1,
        inputs=tuple(Link(p.name, p.type) for p in subgraph.inputs),
        outputs=tuple(Output(p.name, p.type) for p in subgraph.outputs),
        func=never,
    )


def registry_for(graph: Graph, registry: Registry) -> Registry:
    """``registry`` plus the declarations of ``graph``'s subgraphs."""
    return registry.with_specs([spec_for(i, s) for i, s in graph.subgraphs.items()])


def runnable(graph: Graph, registry: Registry) -> Graph:
    """The graph a run executes (see the module docstring); ``graph`` itself when plain."""
    if not graph.subgraphs:
        return active_graph(graph, registry)
    outer = active_graph(graph, registry_for(graph, registry))
    return active_graph(expand(outer, graph.subgraphs), registry)


def targets_in(flat: Graph, targets: list[str] | None) -> list[str] | None:
    """Requested node ids as they are in the runnable graph: a subgraph node stands for the
    nodes inside it; a bypassed or muted node for nothing."""
    if targets is None:
        return None
    found: list[str] = []
    for target in targets:
        if target in flat.nodes:
            found.append(target)
        else:
            found.extend(i for i in flat.nodes if i.startswith(f"{target}/"))
    return found


def expand(graph: Graph, subgraphs: dict[str, Subgraph], depth: int = 0) -> Graph:
    """``graph`` with every subgraph node replaced by its inner nodes."""
    if depth > MAX_DEPTH:
        raise GraphError(f"subgraphs are nested more than {MAX_DEPTH} deep (one uses itself?)")
    users = [n for n in graph.nodes.values() if n.type.startswith(PREFIX)]
    if not users:
        return graph
    flat = Graph(nodes=dict(graph.nodes), edges=list(graph.edges), metadata=graph.metadata)
    for user in users:
        subgraph = subgraphs.get(user.type[len(PREFIX):])
        if subgraph is None:
            raise GraphError(f"{user.label()} uses a subgraph this workflow does not define")
        _splice(flat, user, subgraph, subgraph.graph)
        if len(flat.nodes) > MAX_NODES:
            raise GraphError(f"subgraphs expand to more than {MAX_NODES} nodes")
    return expand(flat, subgraphs, depth + 1)  # one level at a time: ports name inner ids


def _splice(flat: Graph, user: NodeInstance, subgraph: Subgraph, inner: Graph) -> None:
    def inner_id(node_id: str) -> str:
        return f"{user.id}/{node_id}"

    for node in inner.nodes.values():
        flat.nodes[inner_id(node.id)] = NodeInstance(
            id=inner_id(node.id), type=node.type, title=f"{user.title} › {node.title}",
            values=dict(node.values), position=node.position,
            type_version=node.type_version, mode=node.mode,
        )
    flat.edges.extend(
        Edge(inner_id(e.source), e.output, inner_id(e.target), e.input) for e in inner.edges
    )
    inputs = {p.name: p for p in subgraph.inputs}
    outputs = {p.name: p for p in subgraph.outputs}
    rewired: list[Edge] = []
    for edge in flat.edges:
        if edge.target == user.id and edge.input in inputs:
            port = inputs[edge.input]
            rewired.append(Edge(edge.source, edge.output, inner_id(port.node), port.port))
        elif edge.source == user.id and edge.output in outputs:
            port = outputs[edge.output]
            rewired.append(Edge(inner_id(port.node), port.port, edge.target, edge.input))
        elif user.id not in (edge.source, edge.target):
            rewired.append(edge)
    flat.edges = rewired
    del flat.nodes[user.id]


def collapse(graph: Graph, node_ids: list[str], name: str, registry: Registry) -> str:
    """Move ``node_ids`` into a new subgraph used by one new node in their place.

    Links crossing the selection become the subgraph's ports. Returns the new node's id.

    Raises:
        GraphError: nothing selected, or an id that is not in the graph.
    """
    chosen = [i for i in graph.nodes if i in set(node_ids)]
    if not chosen or len(chosen) != len(set(node_ids)):
        raise GraphError("select the nodes to collapse into a subgraph")
    specs = registry_for(graph, registry)
    inner = Graph(nodes={i: graph.nodes[i] for i in chosen},
                  edges=[e for e in graph.edges if e.source in chosen and e.target in chosen])
    inputs: list[SubgraphPort] = []
    outputs: list[SubgraphPort] = []
    outer_in: list[tuple[Edge, str]] = []
    outer_out: list[tuple[Edge, str]] = []
    for edge in graph.edges:
        if edge.target in chosen and edge.source not in chosen:
            port = _port_name(inputs, edge.input)
            kind = _port_type(specs, graph.nodes[edge.target], edge.input, inputs=True)
            inputs.append(SubgraphPort(port, kind, edge.target, edge.input))
            outer_in.append((edge, port))
        elif edge.source in chosen and edge.target not in chosen:
            known = next((p for p in outputs if (p.node, p.port) == (edge.source, edge.output)),
                         None)
            if known is None:
                kind = _port_type(specs, graph.nodes[edge.source], edge.output, inputs=False)
                known = SubgraphPort(_port_name(outputs, edge.output), kind, edge.source,
                                     edge.output)
                outputs.append(known)
            outer_out.append((edge, known.name))
    subgraph_id = _fresh(graph.subgraphs, name)
    graph.subgraphs[subgraph_id] = Subgraph(name, inner, inputs, outputs)
    xs = [graph.nodes[i].position[0] for i in chosen]
    ys = [graph.nodes[i].position[1] for i in chosen]
    user = graph.add(type_id(subgraph_id), title=name,
                     position=(sum(xs) / len(xs), sum(ys) / len(ys)))
    for node_id in chosen:
        graph.remove(node_id)
    for edge, port in outer_in:
        graph.connect(edge.source, edge.output, user.id, port)
    for edge, port in outer_out:
        graph.connect(user.id, port, edge.target, edge.input)
    return user.id


def _port_type(registry: Registry, node: NodeInstance, name: str, *, inputs: bool) -> str:
    spec = registry.get(node.type)
    port = (spec.input(name) if inputs else spec.output(name)) if spec else None
    return port.type if port is not None else "*"


def _port_name(taken: list[SubgraphPort], wanted: str) -> str:
    names = {p.name for p in taken}
    name, n = wanted, 2
    while name in names:
        name, n = f"{wanted}_{n}", n + 1
    return name


def _fresh(existing: dict[str, Subgraph], name: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "subgraph"
    candidate, n = base, 2
    while candidate in existing:
        candidate, n = f"{base}_{n}", n + 1
    return candidate
