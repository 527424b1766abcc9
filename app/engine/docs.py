"""Documentation and schema generated from the node declarations."""

from __future__ import annotations

from typing import Any

from app.engine.registry import Registry
from app.engine.workflow import FORMAT, VERSION
from node_api.declaration import Choice, Float, Int, Link, NodeSpec, Value


def _value_summary(value: Value) -> str:
    parts = [f"default {value.default!r}"]
    if isinstance(value, Int | Float) and (value.min is not None or value.max is not None):
        parts.append(f"range {value.min}..{value.max}")
    if isinstance(value, Choice):
        parts.append("one of " + ", ".join(value.choices))
    return "; ".join(parts)


def listing(registry: Registry) -> str:
    """Plain-text list of node types with inputs and outputs."""
    lines: list[str] = []
    for category, specs in registry.by_category().items():
        lines.append(f"[{category}]")
        for spec in specs:
            lines.append(f"  {spec.title}  ({spec.type_id} v{spec.version})")
            for item in spec.inputs:
                if isinstance(item, Link):
                    flag = " (optional)" if item.optional else ""
                    lines.append(f"    in   {item.name}: {item.type}{flag}")
                else:
                    lines.append(f"    set  {item.name}: {item.type}, {_value_summary(item)}")
            for out in spec.outputs:
                lines.append(f"    out  {out.name}: {out.type}")
    return "\n".join(lines)


def _spec_markdown(spec: NodeSpec) -> list[str]:
    lines = [f"### {spec.title}", "", f"`{spec.type_id}` (version {spec.version}). "
             f"{spec.description}", ""]
    if spec.inputs:
        lines += ["| input | type | default / range | description |", "|---|---|---|---|"]
        for item in spec.inputs:
            if isinstance(item, Link):
                lines.append(f"| {item.name} | {item.type} (link) | | {item.description} |")
            else:
                lines.append(
                    f"| {item.name} | {item.type} | {_value_summary(item)} | {item.description} |"
                )
        lines.append("")
    if spec.outputs:
        lines.append("Outputs: " + ", ".join(f"`{o.name}` ({o.type})" for o in spec.outputs))
        lines.append("")
    return lines


def markdown(registry: Registry) -> str:
    """Reference documentation of every node type, in Markdown."""
    lines = ["# Node reference", ""]
    for category, specs in registry.by_category().items():
        lines += [f"## {category}", ""]
        for spec in specs:
            lines += _spec_markdown(spec)
    return "\n".join(lines)


def workflow_schema(registry: Registry) -> dict[str, Any]:
    """JSON Schema of a workflow document, with each node type's values spelled out."""
    node_variants = [
        {
            "type": "object",
            "properties": {
                "type": {"const": spec.type_id},
                "values": spec.json_schema(),
            },
        }
        for spec in registry
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Diffusion Studio workflow",
        "type": "object",
        "required": ["format", "version", "nodes"],
        "properties": {
            "format": {"const": FORMAT},
            "version": {"type": "integer", "maximum": VERSION},
            "nodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string"},
                        "type_version": {"type": "integer"},
                        "title": {"type": "string"},
                        "position": {"type": "array", "items": {"type": "number"}},
                        "values": {"type": "object"},
                    },
                    "anyOf": node_variants,
                },
            },
            "links": {"type": "array"},
            "metadata": {"type": "object"},
        },
    }
