"""``--set NODE.FIELD=VALUE`` overrides, where NODE is a node id or title."""

from __future__ import annotations

from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.declaration import Value
from pipelines.errors import StudioError


class OverrideError(StudioError, ValueError):
    """An override names a missing node or field, or carries a bad value."""


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``'Positive Prompt.text=a red circle'`` into (node, field, raw value)."""
    target, sep, raw = text.partition("=")
    node_ref, dot, field = target.rpartition(".")
    if not sep or not dot or not node_ref.strip() or not field.strip():
        raise OverrideError(f"{text!r}: expected NODE.FIELD=VALUE (NODE is an id or a title)")
    return node_ref.strip(), field.strip(), raw


def apply_overrides(graph: Graph, registry: Registry, overrides: list[str]) -> Graph:
    """Return a copy of ``graph`` with every override applied.

    Raises:
        OverrideError: listing every override that cannot be applied.
    """
    graph = graph.copy()
    problems: list[str] = []
    for text in overrides:
        try:
            node_ref, field, raw = parse_override(text)
        except OverrideError as exc:
            problems.append(str(exc))
            continue
        node = graph.find(node_ref)
        if node is None:
            titles = ", ".join(f"{n.title!r} (#{n.id})" for n in graph.nodes.values())
            problems.append(f"{text!r}: no node with id or title {node_ref!r}; nodes: {titles}")
            continue
        spec = registry.get(node.type)
        declared = spec.input(field) if spec else None
        if not isinstance(declared, Value):
            names = ", ".join(v.name for v in spec.values) if spec else ""
            problems.append(f"{text!r}: {node.label()} has no field {field!r}; fields: {names}")
            continue
        try:
            value = declared.parse(raw)
        except (ValueError, TypeError) as exc:
            problems.append(f"{text!r}: {exc}")
            continue
        issue = declared.check(value)
        if issue:
            problems.append(f"{text!r}: {issue}")
            continue
        node.values[field] = value
    if problems:
        raise OverrideError("\n".join(problems))
    return graph
