"""Workflow files of our own format: JSON documents <-> the engine's Graph.

A document has a ``format`` name and a ``version``; older versions are upgraded on load
through ``MIGRATIONS`` (ordered, one step per version) and node values through each node
type's own migrations. Saving is atomic: a temporary file is renamed over the target.
Opening a file of any format (ours, a PNG, ComfyUI, AUTOMATIC1111) is
``app.interop.open.open_workflow``; this module knows no other format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError as SchemaError

from app.engine.graph import NORMAL, Edge, Graph, Group, NodeInstance, Subgraph, SubgraphPort
from app.engine.registry import Registry
from app.engine.workflow_schema import DocumentShape, SubgraphShape, schema_problem
from node_api.files import MAX_WORKFLOW_CHARS, atomic_write
from pipelines.errors import StudioError
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

FORMAT = "diffusion-studio/workflow"
VERSION = 1

# MIGRATIONS[v] upgrades a raw document of version v to version v + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class WorkflowError(StudioError):
    """A workflow file cannot be read; the message names the file and what is wrong."""

    def __init__(self, source: str | Path, message: str) -> None:
        self.source = str(source)
        self.reason = message
        super().__init__(f"{source}: {message}")


def to_document(graph: Graph) -> dict[str, Any]:
    """The JSON-ready document of ``graph``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "nodes": [
            {
                "id": n.id,
                "type": n.type,
                "type_version": n.type_version,
                "title": n.title,
                "position": list(n.position),
                "values": n.values,
                **({"mode": n.mode} if n.mode != NORMAL else {}),
                **({"colour": n.colour} if n.colour else {}),
                **({"pinned": True} if n.pinned else {}),
            }
            for n in graph.nodes.values()
        ],
        "links": [
            {"source": e.source, "output": e.output, "target": e.target, "input": e.input}
            for e in graph.edges
        ],
        "metadata": graph.metadata,
        **({"subgraphs": _subgraphs_document(graph)} if graph.subgraphs else {}),
        **({"groups": [
            {"title": g.title, "bounds": list(g.bounds), "colour": g.colour} for g in graph.groups
        ]} if graph.groups else {}),
    }


def from_document(
    raw: Any, source: str | Path, registry: Registry | None = None, strict: bool = True
) -> Graph:
    """Build a Graph from a parsed document, upgrading older versions.

    Args:
        strict: when True, node types missing from ``registry`` are an error.

    Raises:
        WorkflowError: the document is malformed; the message says where.
    """
    if not isinstance(raw, dict):
        raise WorkflowError(source, "not a workflow: the top level must be a JSON object")
    if raw.get("format") != FORMAT:
        raise WorkflowError(
            source, f"not a workflow of this app (format is {raw.get('format')!r}, "
            f"expected {FORMAT!r})"
        )
    raw = _upgrade(raw, source)
    subgraphs, registry = _read_subgraphs(raw, source, registry, strict)
    try:
        doc = DocumentShape.model_validate(raw)
    except SchemaError as exc:
        raise WorkflowError(source, schema_problem(exc, raw)) from None
    graph = Graph(metadata=doc.metadata)
    for item in doc.nodes:
        if item.id in graph.nodes:
            raise WorkflowError(source, f"node id {item.id!r} appears twice")
        values = dict(item.values)
        version = item.type_version
        spec = registry.get(item.type) if registry is not None else None
        if spec is not None:
            if version > spec.version:
                raise WorkflowError(
                    source, f"node #{item.id} ({item.type}) field 'type_version': version "
                    f"{version} was written by a newer version of the app (this app knows "
                    f"version {spec.version} of {item.type})"
                )
            while version < spec.version:
                step = spec.migrations.get(version)
                if step is None:
                    raise WorkflowError(
                        source, f"node #{item.id} ({item.type}) is version {version}; "
                        f"no migration to version {spec.version}"
                    )
                values, version = step(values), version + 1
        graph.nodes[item.id] = NodeInstance(
            id=item.id,
            type=item.type,
            title=item.title or (spec.title if spec else item.type),
            values=values,
            position=item.position,
            type_version=version,
            mode=item.mode,
            colour=item.colour,
            pinned=item.pinned,
        )
    if strict and registry is not None:
        unknown = sorted({n.type for n in graph.nodes.values() if n.type not in registry})
        if unknown:
            raise WorkflowError(source, f"unknown node type(s): {', '.join(unknown)}")
    for link in doc.links:
        missing = [i for i in (link.source, link.target) if i not in graph.nodes]
        if missing:
            raise WorkflowError(
                source, f"a link {link.source}.{link.output} -> {link.target}.{link.input} "
                f"refers to missing node #{missing[0]}"
            )
        graph.edges.append(Edge(link.source, link.output, link.target, link.input))
    graph.subgraphs = subgraphs
    graph.groups = [Group(g.title, g.bounds, g.colour) for g in doc.groups]
    return graph


def _upgrade(raw: dict[str, Any], source: str | Path) -> dict[str, Any]:
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowError(source, "the 'version' field is missing or not a whole number")
    if version > VERSION:
        raise WorkflowError(
            source, f"written by a newer version of the app (format version {version}; "
            f"this app reads up to {VERSION})"
        )
    if version < 1:
        raise WorkflowError(source, f"the 'version' field is {version}; versions start at 1")
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise WorkflowError(source, f"format version {version} cannot be upgraded "
                                        f"(no migration to version {version + 1})")
        raw = step(dict(raw))
        version += 1
        raw["version"] = version
    return raw


def parse_json(data: str | bytes, source: str | Path, what: str = "") -> Any:
    """A workflow document's JSON, size and nesting checked before parsing.

    Args:
        what: where in ``source`` the text is (e.g. "the PNG's 'prompt' text"), if anywhere.

    Raises:
        WorkflowError: too large, nested too deeply, not JSON, a repeated key, bad Unicode.
    """
    try:
        return checked_loads(data, max_chars=MAX_WORKFLOW_CHARS)
    except JsonInputError as exc:
        raise WorkflowError(source, f"{what}: {exc}" if what else str(exc)) from None


def save_workflow(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` atomically (the old file stays intact on failure).

    Text that UTF-8 cannot hold (a lone surrogate from a damaged import) is written as a
    JSON ``\\uXXXX`` escape, so the file reopens to exactly the same graph.

    Raises:
        OSError: the file cannot be written.
        WorkflowError: a value cannot be stored as JSON.
    """
    path = Path(path)
    document = to_document(graph)
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:  # a value JSON cannot hold
        raise WorkflowError(path, f"cannot be saved: {exc}") from None
    atomic_write(path, data)
    return path


def _subgraphs_document(graph: Graph) -> dict[str, Any]:
    def ports(items: list[SubgraphPort]) -> list[dict[str, str]]:
        return [{"name": p.name, "type": p.type, "node": p.node, "port": p.port} for p in items]

    documents = {}
    for subgraph_id, subgraph in graph.subgraphs.items():
        inner = to_document(subgraph.graph)
        documents[subgraph_id] = {
            "name": subgraph.name, "nodes": inner["nodes"], "links": inner["links"],
            "inputs": ports(subgraph.inputs), "outputs": ports(subgraph.outputs),
        }
    return documents


def _read_subgraphs(
    raw: dict[str, Any], source: str | Path, registry: Registry | None, strict: bool
) -> tuple[dict[str, Subgraph], Registry | None]:
    """The document's subgraph definitions, and the registry that also declares their nodes."""
    from app.engine.subgraphs import spec_for

    found = raw.get("subgraphs") or {}
    if not isinstance(found, dict):
        raise WorkflowError(source, "wrong structure: 'subgraphs' must be an object")
    shapes: dict[str, SubgraphShape] = {}
    for subgraph_id, item in found.items():
        try:
            shapes[subgraph_id] = SubgraphShape.model_validate(item)
        except SchemaError as exc:
            where = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:4]
            )
            raise WorkflowError(source, f"subgraph {subgraph_id!r}: wrong structure: {where}") \
                from None
    subgraphs = {
        subgraph_id: Subgraph(
            shape.name, Graph(),
            [SubgraphPort(p.name, p.type, p.node, p.port) for p in shape.inputs],
            [SubgraphPort(p.name, p.type, p.node, p.port) for p in shape.outputs],
        )
        for subgraph_id, shape in shapes.items()
    }
    if registry is not None:
        registry = registry.with_specs([spec_for(i, s) for i, s in subgraphs.items()])
    for subgraph_id, shape in shapes.items():
        where = f"{source} (subgraph {shape.name!r})"
        inner = {"format": FORMAT, "version": VERSION, "nodes": shape.nodes, "links": shape.links}
        subgraph = subgraphs[subgraph_id]
        subgraph.graph = from_document(inner, where, registry, strict)
        for port in subgraph.inputs + subgraph.outputs:
            if port.node not in subgraph.graph.nodes:
                raise WorkflowError(where, f"port {port.name!r} refers to missing node "
                                    f"#{port.node}")
    return subgraphs, registry
