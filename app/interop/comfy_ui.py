"""ComfyUI's UI (LiteGraph) format -> its API "prompt" format, as ComfyUI itself does when
queueing: widget values get their names, Reroutes and bypassed nodes are followed through,
PrimitiveNodes become plain values, muted nodes and notes are dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.interop.comfy_names import CLASSES, UI_ONLY
from app.interop.comfy_schema import UiNode, check_ui

MUTED, BYPASSED = 2, 4


def ui_to_prompt(
    raw: dict[str, Any], source: str | Path
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The API prompt of a UI document, and each node's position and title.

    Raises:
        WorkflowError: a malformed node or link list (naming the node and field).
    """
    node_list, links = check_ui(raw, source)
    nodes = {str(n.id): n for n in node_list}
    prompt: dict[str, Any] = {}
    layout: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes.items():
        cls = node.type
        layout[node_id] = {"pos": node.pos, "title": node.title}
        if cls in UI_ONLY or node.mode in (MUTED, BYPASSED):
            continue
        inputs = _widgets(cls, node.widgets_values)
        for slot in node.inputs or []:
            if slot.link is None or slot.link not in links:
                continue
            origin = _follow(nodes, links, *links[slot.link])
            if origin is None:
                continue
            name = (slot.widget.name if slot.widget else None) or slot.name
            origin_node = nodes.get(origin[0])
            if origin_node is not None and origin_node.type == "PrimitiveNode":
                inputs[name] = _first(origin_node.widgets_values)
            else:
                inputs[name] = [origin[0], origin[1]]
        item: dict[str, Any] = {"class_type": cls, "inputs": inputs}
        if node.title:
            item["_meta"] = {"title": node.title}
        prompt[node_id] = item
    return prompt, layout


def _first(values: list[Any] | dict[str, Any] | None) -> Any:
    """A PrimitiveNode's value: its first widget value."""
    if isinstance(values, dict):
        values = list(values.values())
    return values[0] if values else None


def _follow(
    nodes: dict[str, UiNode], links: dict[Any, tuple[str, int]], origin: str, slot: int
) -> tuple[str, int] | None:
    """The real producer behind Reroutes and bypassed nodes (None when it leads nowhere)."""
    for _ in range(len(nodes) + 1):
        node = nodes.get(origin)
        if node is None:
            return None
        through = node.type == "Reroute" or node.mode == BYPASSED
        if not through:
            return origin, slot
        wanted = _output_type(node, slot)
        upstream = next(
            (i for i in node.inputs or []
             if i.link in links and (node.type == "Reroute" or i.type == wanted)),
            None,
        )
        if upstream is None:
            return None
        origin, slot = links[upstream.link]
    return None


def _output_type(node: UiNode, slot: int) -> Any:
    outputs = node.outputs or []
    return outputs[slot].type if 0 <= slot < len(outputs) else None


def _widgets(cls: str, values: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    """Name the widget values of a node of class ``cls``."""
    if isinstance(values, dict):  # newer front ends save named widget values
        return dict(values)
    if not isinstance(values, list) or cls not in CLASSES:
        return {}
    names = list(CLASSES[cls].widgets)
    if len(values) < len(names):  # saved without the UI-only widgets (control_after_generate)
        names = [n for n in names if n is not None]
    return {n: v for n, v in zip(names, values, strict=False) if n is not None}
