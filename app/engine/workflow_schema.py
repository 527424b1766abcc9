"""The shapes a workflow document must have (pydantic), and one line for what is wrong.

``app.engine.workflow`` validates documents of our format with these; a leaf module, so the
shapes can be read without the reader around them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as SchemaError


class NodeShape(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    id: str
    type: str
    type_version: int = 1
    title: str | None = None
    position: tuple[float, float] = (0.0, 0.0)
    values: dict[str, Any] = Field(default_factory=dict)
    mode: Literal["normal", "bypass", "mute"] = "normal"
    colour: str | None = None
    pinned: bool = False

    @field_validator("colour", mode="before")
    @classmethod
    def _colour(cls, value: Any) -> str | None:
        """``#rrggbb``; anything else (another tool's "red", a style string) is dropped: the
        node is drawn in its category's colour and the rest of the file opens."""
        ok = isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value)
        return value.lower() if ok else None


class LinkShape(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str
    output: str
    target: str
    input: str


class GroupShape(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = ""
    bounds: tuple[float, float, float, float]
    colour: str = "#3f5a7a"


class DocumentShape(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: str
    version: int
    nodes: list[NodeShape]
    links: list[LinkShape] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    groups: list[GroupShape] = Field(default_factory=list)


class PortShape(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    type: str
    node: str
    port: str


class SubgraphShape(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    nodes: list[Any]
    links: list[Any] = Field(default_factory=list)
    inputs: list[PortShape] = Field(default_factory=list)
    outputs: list[PortShape] = Field(default_factory=list)


def schema_problem(exc: SchemaError, raw: Any) -> str:
    """One line for a pydantic error of a workflow document: the first problems, each
    naming the node (by id and type) and the field."""
    parts = []
    for err in exc.errors()[:3]:
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "the document"
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            node = raw["nodes"][loc[1]] if isinstance(raw, dict) else None
            if isinstance(node, dict):
                ident, kind = node.get("id"), node.get("type")
                name = f"node #{ident}" if isinstance(ident, str) else f"node {loc[1] + 1}"
                if isinstance(kind, str):
                    name += f" ({kind[:60]})"
                field = ".".join(str(p) for p in loc[2:]) or "the node"
                where = f"{name} field {field!r}"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - len(parts)
    text = "wrong structure: " + "; ".join(parts) + (f" (and {more} more)" if more else "")
    return " ".join(text.splitlines())  # one line, whatever the ids and types hold
