"""Which results on the canvas no longer match the graph (no Qt).

A node's shown result (done, cached) is stale when the node, or anything it depends on, was
edited since the run that produced it: values, title aside, or its incoming links.
"""

from __future__ import annotations

from app.engine.graph import Graph


def changed_since(ran: Graph, now: Graph) -> set[str]:
    """Nodes of ``now`` whose result would differ from the one ``ran`` produced."""
    direct = {
        node_id for node_id, node in now.nodes.items()
        if (old := ran.nodes.get(node_id)) is None or old.type != node.type
        or old.values != node.values or ran.incoming(node_id) != now.incoming(node_id)
    }
    stale, stack = set(), list(direct)
    while stack:  # and everything downstream of them
        current = stack.pop()
        if current in stale:
            continue
        stale.add(current)
        stack.extend(e.target for e in now.edges if e.source == current)
    return stale
