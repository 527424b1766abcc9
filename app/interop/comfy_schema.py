"""The shapes of ComfyUI documents, checked before import: the API prompt
(``{id: {class_type, inputs, _meta}}``) and the UI (LiteGraph) document (``nodes``,
``links``). A malformed document becomes one WorkflowError naming the node and the field;
what passes has the types the importer relies on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    field_validator,
)
from pydantic import ValidationError as SchemaError

from app.engine.workflow import WorkflowError
from app.interop.comfy_fields import show


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: StrictStr | None = None


class ApiNode(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    class_type: StrictStr
    inputs: dict[str, Any] | None = None
    meta: _Meta | None = Field(default=None, alias="_meta")


class UiWidgetRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr | None = None


class UiInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = ""
    type: Any = None
    link: StrictInt | StrictStr | None = None
    widget: UiWidgetRef | None = None


class UiOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Any = None


class UiNode(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt | StrictStr
    type: StrictStr
    pos: tuple[float, float] | None = None
    title: StrictStr | None = None
    mode: StrictInt = 0
    widgets_values: list[Any] | dict[str, Any] | None = None
    color: Any = None  # title bar / body colours and flags.pinned: checked where read
    bgcolor: Any = None
    flags: Any = None
    inputs: list[UiInput] | None = None
    outputs: list[UiOutput] | None = None

    @field_validator("pos", mode="before")
    @classmethod
    def _position(cls, value: Any) -> Any:
        """``[x, y]`` or, from a Float32Array, ``{"0": x, "1": y}``; finite numbers."""
        if isinstance(value, dict):
            value = [value.get("0"), value.get("1")]
        if value is None:
            return None
        if not isinstance(value, list | tuple) or len(value) < 2:
            raise ValueError(f"expected [x, y], got {show(value)}")
        point = value[:2]
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v) for v in point):
            raise ValueError(f"expected two finite numbers, got {show(value)}")
        return tuple(point)


class UiLink(BaseModel):
    """A link as LiteGraph saves it: ``[id, origin, slot, target, slot, type]`` or (schema
    1.0) an object."""

    model_config = ConfigDict(extra="ignore")
    id: StrictInt | StrictStr
    origin_id: StrictInt | StrictStr
    origin_slot: StrictInt

    @classmethod
    def parse(cls, item: Any) -> UiLink:
        if isinstance(item, list):
            if len(item) < 3:
                raise ValueError(f"expected [id, origin, slot, ...], got {show(item)}")
            item = {"id": item[0], "origin_id": item[1], "origin_slot": item[2]}
        return cls.model_validate(item)


class UiDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")
    nodes: list[UiNode]
    links: list[Any] | None = None


_API = TypeAdapter(dict[str, ApiNode])


def check_api(raw: Any, source: str | Path) -> dict[str, dict[str, Any]]:
    """The API prompt with every node as ``{class_type, inputs, _meta: {title}}``.

    Raises:
        WorkflowError: a node that is not an object with a text ``class_type`` and an
            ``inputs`` object, or an empty node id.
    """
    if not isinstance(raw, dict):
        raise WorkflowError(source, "not a ComfyUI workflow: the top level must be an object")
    try:
        nodes = _API.validate_python(raw)
    except SchemaError as exc:
        raise WorkflowError(source, _problem(exc, raw, "api")) from None
    prompt: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes.items():
        if not node_id.strip():
            raise WorkflowError(source, f"a node id is empty ({node.class_type[:60]})")
        prompt[node_id] = {"class_type": node.class_type, "inputs": dict(node.inputs or {}),
                           "_meta": {"title": node.meta.title if node.meta else None}}
    return prompt


def check_ui(raw: Any, source: str | Path) -> tuple[list[UiNode], dict[Any, tuple[str, int]]]:
    """The UI document's nodes and its links as ``{id: (origin node id, origin slot)}``.

    Raises:
        WorkflowError: a malformed node or link, or a node id used twice.
    """
    try:
        doc = UiDocument.model_validate(raw)
    except SchemaError as exc:
        raise WorkflowError(source, _problem(exc, raw, "ui")) from None
    links: dict[Any, tuple[str, int]] = {}
    for index, item in enumerate(doc.links or []):
        try:
            link = UiLink.parse(item)
        except (SchemaError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, SchemaError) else str(exc)
            raise WorkflowError(source, f"link {index + 1}: {reason}") from None
        links[link.id] = (str(link.origin_id), link.origin_slot)
    seen: set[str] = set()
    for node in doc.nodes:
        if str(node.id) in seen or not str(node.id).strip():
            raise WorkflowError(source, f"node id {show(node.id)} is empty or used twice")
        seen.add(str(node.id))
    return doc.nodes, links


def _problem(exc: SchemaError, raw: Any, kind: str) -> str:
    """One line for the first problems, each naming the node (id and class) and field."""
    parts: dict[str, str] = {}
    for err in exc.errors():
        loc = [p for p in err["loc"] if not _union_tag(p)]
        msg = _plain(err["msg"])
        node: Any = None
        if kind == "api" and loc and isinstance(raw, dict):
            node, rest = raw.get(loc[0]), loc[1:]
            name = f"node #{show(loc[0], 40)[1:-1]}"
            cls = node.get("class_type") if isinstance(node, dict) else None
        elif kind == "ui" and len(loc) >= 2 and loc[0] == "nodes" and isinstance(raw, dict):
            node = raw["nodes"][loc[1]] if isinstance(loc[1], int) else None
            ident = node.get("id") if isinstance(node, dict) else None
            name = (f"node #{show(ident, 40).strip(chr(39))}"
                    if isinstance(ident, int | str) else f"node {loc[1] + 1} of the list")
            cls, rest = (node.get("type") if isinstance(node, dict) else None), loc[2:]
        else:
            parts.setdefault(".".join(str(p) for p in loc) or "the document", msg)
            continue
        if isinstance(cls, str):
            name += f" ({cls[:60]})"
        field = ".".join(str(p) for p in rest)
        parts.setdefault(f"{name} field {field!r}" if field else name, msg)
        if len(parts) == 3:
            break
    listed = "; ".join(f"{where}: {msg}" for where, msg in parts.items())
    return f"malformed ComfyUI workflow: {listed}"


def _union_tag(part: Any) -> bool:
    """pydantic's names for the branches of a union (``int``, ``list[any]``, ...)."""
    return isinstance(part, str) and (part in ("int", "str", "float", "bool", "none")
                                      or "[" in part)


def _plain(msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Input should be a valid dictionary"):
        return "expected an object"
    return msg.replace("Input should be a valid ", "expected ")
