"""Workflow files: JSON documents (or PNGs that embed one) <-> the engine's Graph.

A document has a ``format`` name and a ``version``; older versions are upgraded on load
through ``MIGRATIONS`` (ordered, one step per version) and node values through each node
type's own migrations. Saving is atomic: a temporary file is renamed over the target.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as SchemaError

from app.engine.graph import Edge, Graph, NodeInstance
from app.engine.registry import Registry

FORMAT = "diffusion-studio/workflow"
VERSION = 1
PNG_CHUNK = "workflow"
PNG_PARAMETERS_CHUNK = "parameters"

# MIGRATIONS[v] upgrades a raw document of version v to version v + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class WorkflowError(Exception):
    """A workflow file cannot be read; the message names the file and what is wrong."""

    def __init__(self, source: str | Path, message: str) -> None:
        self.source = str(source)
        self.reason = message
        super().__init__(f"{source}: {message}")


class _Node(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: str
    type_version: int = 1
    title: str | None = None
    position: tuple[float, float] = (0.0, 0.0)
    values: dict[str, Any] = Field(default_factory=dict)


class _Link(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str
    output: str
    target: str
    input: str


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: str
    version: int
    nodes: list[_Node]
    links: list[_Link] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


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
            }
            for n in graph.nodes.values()
        ],
        "links": [
            {"source": e.source, "output": e.output, "target": e.target, "input": e.input}
            for e in graph.edges
        ],
        "metadata": graph.metadata,
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
    try:
        doc = _Document.model_validate(raw)
    except SchemaError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:8]
        )
        raise WorkflowError(source, f"wrong structure: {details}") from None
    graph = Graph(metadata=doc.metadata)
    for item in doc.nodes:
        if item.id in graph.nodes:
            raise WorkflowError(source, f"node id {item.id!r} appears twice")
        values = dict(item.values)
        version = item.type_version
        spec = registry.get(item.type) if registry is not None else None
        if spec is not None:
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
    return graph


def _upgrade(raw: dict[str, Any], source: str | Path) -> dict[str, Any]:
    version = raw.get("version")
    if not isinstance(version, int):
        raise WorkflowError(source, "the 'version' field is missing or not a number")
    if version > VERSION:
        raise WorkflowError(
            source, f"written by a newer version of the app (format version {version}; "
            f"this app reads up to {VERSION})"
        )
    while version < VERSION:
        raw = MIGRATIONS[version](dict(raw))
        version += 1
        raw["version"] = version
    return raw


def load_workflow(
    path: str | Path, registry: Registry | None = None, strict: bool = True
) -> Graph:
    """Read a workflow from a .json file or from a PNG written by Save Image.

    Raises:
        WorkflowError: the file is missing, unreadable or not a valid workflow.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise WorkflowError(path, "no such file") from None
    except OSError as exc:
        raise WorkflowError(path, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):  # a FIFO or device would block or never end
        from pipelines.file_policy import describe_mode

        raise WorkflowError(path, f"is {describe_mode(mode)}, not a workflow file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WorkflowError(path, f"cannot be read ({exc.strerror})") from None
    if data.startswith(b"\x89PNG"):
        chunks = _png_chunks(path)
        if not _is_ours(chunks.get(PNG_CHUNK)):  # ComfyUI or AUTOMATIC1111
            from app.engine.comfy import graph_from_png_chunks

            return graph_from_png_chunks(chunks, path, registry, strict)
        text = chunks[PNG_CHUNK]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WorkflowError(path, "not a workflow: the file is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise WorkflowError(
            path, f"{what} (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    from app.engine.comfy import detect, load_comfy

    if detect(raw) is not None:  # a ComfyUI workflow (API or UI format)
        return load_comfy(raw, path, registry, strict)
    return from_document(raw, path, registry, strict)


def _png_chunks(path: Path) -> dict[str, str]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return dict(getattr(image, "text", {}) or {})
    except Exception as exc:  # corrupt PNG: PIL raises many kinds
        raise WorkflowError(path, f"the PNG cannot be read ({exc})") from None


def _is_ours(text: str | None) -> bool:
    try:
        raw = json.loads(text) if text else None
    except json.JSONDecodeError:
        return FORMAT in (text or "")  # ours but damaged: let the JSON error be reported
    return isinstance(raw, dict) and raw.get("format") == FORMAT


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


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside ``path``, then rename it into place.

    A symlink is written through to its target; see :mod:`app.engine.safe_write`.
    """
    from app.engine.safe_write import atomic_write as write

    write(path, data)
