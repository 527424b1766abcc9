"""ComfyUI's UI (LiteGraph) format -> its API "prompt" format, as ComfyUI itself does when
queueing: widget values get their names, Reroutes and bypassed nodes are followed through,
PrimitiveNodes become plain values, muted nodes and notes are dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.engine.workflow import WorkflowError
from app.interop.comfy_names import CLASSES, UI_ONLY

MUTED, BYPASSED = 2, 4


def ui_to_prompt(
    raw: dict[str, Any], source: str | Path
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The API prompt of a UI document, and each node's position and title.

    Raises:
        WorkflowError: a malformed node or link list.
    """
    try:
        nodes = {str(n["id"]): n for n in raw["nodes"]}
        links = dict(_link(item) for item in raw.get("links") or [])
    except (KeyError, TypeError, ValueError, IndexError):
        raise WorkflowError(source, "malformed ComfyUI workflow (nodes or links)") from None
    prompt: dict[str, Any] = {}
    layout: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes.items():
        cls = node.get("type")
        layout[node_id] = {"pos": _pos(node.get("pos")), "title": node.get("title")}
        if cls in UI_ONLY or node.get("mode") in (MUTED, BYPASSED):
            continue
        inputs = _widgets(cls, node.get("widgets_values"))
        for slot in node.get("inputs") or []:
            link_id = slot.get("link")
            if link_id is None or link_id not in links:
                continue
            origin = _follow(nodes, links, *links[link_id])
            if origin is None:
                continue
            name = (slot.get("widget") or {}).get("name") or slot.get("name")
            origin_node = nodes.get(origin[0])
            if origin_node is not None and origin_node.get("type") == "PrimitiveNode":
                inputs[name] = (origin_node.get("widgets_values") or [None])[0]
            else:
                inputs[name] = [origin[0], origin[1]]
        item: dict[str, Any] = {"class_type": cls, "inputs": inputs}
        if node.get("title"):
            item["_meta"] = {"title": node["title"]}
        prompt[node_id] = item
    return prompt, layout


def _link(item: Any) -> tuple[Any, tuple[str, int]]:
    """``(id, (origin node, origin slot))`` of a link, as a list or (schema 1.0) an object."""
    if isinstance(item, dict):
        return item["id"], (str(item["origin_id"]), int(item["origin_slot"]))
    return item[0], (str(item[1]), int(item[2]))


def _follow(
    nodes: dict[str, Any], links: dict[Any, tuple[str, int]], origin: str, slot: int
) -> tuple[str, int] | None:
    """The real producer behind Reroutes and bypassed nodes (None when it leads nowhere)."""
    for _ in range(len(nodes) + 1):
        node = nodes.get(origin)
        if node is None:
            return None
        through = node.get("type") == "Reroute" or node.get("mode") == BYPASSED
        if not through:
            return origin, slot
        wanted = _output_type(node, slot)
        upstream = next(
            (i for i in node.get("inputs") or []
             if i.get("link") in links
             and (node.get("type") == "Reroute" or i.get("type") == wanted)),
            None,
        )
        if upstream is None:
            return None
        origin, slot = links[upstream["link"]]
    return None


def _output_type(node: dict[str, Any], slot: int) -> Any:
    outputs = node.get("outputs") or []
    return outputs[slot].get("type") if 0 <= slot < len(outputs) else None


def _widgets(cls: Any, values: Any) -> dict[str, Any]:
    """Name the widget values of a node of class ``cls``."""
    if isinstance(values, dict):  # newer front ends save named widget values
        return dict(values)
    if not isinstance(values, list) or cls not in CLASSES:
        return {}
    names = list(CLASSES[cls].widgets)
    if len(values) < len(names):  # saved without the UI-only widgets (control_after_generate)
        names = [n for n in names if n is not None]
    return {n: v for n, v in zip(names, values, strict=False) if n is not None}


def _pos(pos: Any) -> tuple[float, float] | None:
    if isinstance(pos, list | tuple) and len(pos) >= 2:
        return (float(pos[0]), float(pos[1]))
    if isinstance(pos, dict) and "0" in pos:
        return (float(pos["0"]), float(pos["1"]))
    return None
