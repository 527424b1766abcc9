"""Graph validation that reports every problem at once, each naming node and field."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.graph import Graph, GraphError
from app.engine.registry import Registry
from app.engine.subgraphs import runnable, targets_in
from node_api.declaration import Link
from node_api.ports import compatible, feeds_value
from pipelines.errors import StudioError


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    title: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.node_id is not None:
            where.append(f"node '{self.title}' (#{self.node_id})")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ValidationError(StudioError):
    """A graph cannot run; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the workflow has {len(problems)} problem(s):\n{lines}")


def validate(
    graph: Graph, registry: Registry, targets: list[str] | None = None
) -> list[Problem]:
    """Return all problems of ``graph``; an empty list means it can run.

    Args:
        targets: node ids whose results are wanted; default every output node.
    """
    try:
        graph = runnable(graph, registry)  # subgraphs expanded, bypassed and muted nodes gone
    except GraphError as exc:
        return [Problem(None, None, None, str(exc))]
    targets = targets_in(graph, targets)
    problems: list[Problem] = []
    linked: dict[str, set[str]] = {}  # node id -> its linked inputs (one pass over the edges)
    for edge in graph.edges:
        linked.setdefault(edge.target, set()).add(edge.input)
    for node in graph.nodes.values():
        spec = registry.get(node.type)
        if spec is None:
            problems.append(
                Problem(node.id, node.title, None, f"unknown node type {node.type!r}")
            )
            continue
        for value in spec.values:
            if value.name not in node.values:
                continue
            raw = node.values[value.name]
            try:
                coerced = value.coerce(raw)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(node.id, node.title, value.name, str(exc)))
                continue
            issue = value.check(coerced)
            if issue:
                problems.append(Problem(node.id, node.title, value.name, issue))
        if spec.check is not None and not any(p.node_id == node.id for p in problems):
            values = {v.name: v.coerce(node.values.get(v.name, v.default)) for v in spec.values}
            for field_name, issue in spec.check(values):
                problems.append(Problem(node.id, node.title, field_name, issue))
        for name in node.values:
            if spec.input(name) is None or isinstance(spec.input(name), Link):
                problems.append(
                    Problem(node.id, node.title, name, f"{spec.title} has no value {name!r}")
                )
        incoming = linked.get(node.id, set())
        for link in spec.links:
            if link.name not in incoming and not link.optional:
                problems.append(
                    Problem(node.id, node.title, link.name, f"needs a {link.type} input linked")
                )
    problems.extend(_link_problems(graph, registry))
    try:
        graph.topological_order()
    except GraphError as exc:
        problems.append(Problem(None, None, None, str(exc)))
    if targets is None:
        outputs = [
            n for n in graph.nodes.values()
            if (spec := registry.get(n.type)) is not None and spec.is_output
        ]
        if not outputs:
            problems.append(
                Problem(None, None, None, "the graph has no output node (e.g. Save Image)")
            )
    else:
        for target in targets:
            if target not in graph.nodes:
                problems.append(Problem(target, None, None, "requested output does not exist"))
    return problems


def _link_problems(graph: Graph, registry: Registry) -> list[Problem]:
    problems: list[Problem] = []
    seen_inputs: set[tuple[str, str]] = set()
    for edge in graph.edges:
        target = graph.nodes.get(edge.target)
        source = graph.nodes.get(edge.source)
        if target is None or source is None:
            missing = edge.target if target is None else edge.source
            problems.append(
                Problem(None, None, None, f"a link refers to missing node #{missing}")
            )
            continue
        if (edge.target, edge.input) in seen_inputs:
            problems.append(
                Problem(target.id, target.title, edge.input, "has more than one link")
            )
        seen_inputs.add((edge.target, edge.input))
        tspec, sspec = registry.get(target.type), registry.get(source.type)
        if tspec is None or sspec is None:
            continue
        port_in = tspec.input(edge.input)
        port_out = sspec.output(edge.output)
        if port_in is None:
            problems.append(
                Problem(target.id, target.title, edge.input, "is not an input of this node")
            )
            continue
        if port_out is None:
            problems.append(
                Problem(
                    target.id,
                    target.title,
                    edge.input,
                    f"linked from missing output {edge.output!r} of {source.label()}",
                )
            )
            continue
        if not isinstance(port_in, Link):  # a value driven by a link
            if not feeds_value(port_out.type, port_in.type):
                problems.append(
                    Problem(
                        target.id, target.title, edge.input,
                        f"is a {port_in.type} value but is linked to {port_out.type} "
                        f"output {edge.output!r} of {source.label()}",
                    )
                )
            continue
        if not compatible(port_out.type, port_in.type):
            problems.append(
                Problem(
                    target.id,
                    target.title,
                    edge.input,
                    f"expects {port_in.type} but is linked to {port_out.type} "
                    f"output {edge.output!r} of {source.label()}",
                )
            )
    return problems
