"""ComfyUI's UI (LiteGraph) format -> its API "prompt" format, as ComfyUI itself does when
queueing: widget values get their names, Reroutes are followed through, PrimitiveNodes become
plain values, notes are dropped. Muted and bypassed nodes of classes we know are kept, wired as
drawn, and come back with our modes (``layout[id]["mode"]``); those we do not know are dropped
(muted) or followed through (bypassed) as ComfyUI itself would. UI groups become our groups."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from app.engine.graph import BYPASS, MUTE, Graph, Group
from app.interop.comfy_names import CLASSES, UI_ONLY
from app.interop.comfy_schema import UiNode, check_ui

MUTED, BYPASSED = 2, 4
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MODES = {MUTED: MUTE, BYPASSED: BYPASS}


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
        layout[node_id] = {"pos": node.pos, "title": node.title, **_look(node)}
        if node.mode in MODES and cls in CLASSES:
            layout[node_id]["mode"] = MODES[node.mode]
        elif cls in UI_ONLY or node.mode in MODES:
            continue
        inputs = named_widgets(cls, node.widgets_values)
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


def _look(node: UiNode) -> dict[str, Any]:
    """The node's colour ("#rrggbb": its body colour, else its title's) and pin, as drawn in
    ComfyUI; anything else there is ignored."""
    look: dict[str, Any] = {}
    for colour in (node.bgcolor, node.color):
        if isinstance(colour, str) and COLOUR.fullmatch(colour):
            look["colour"] = colour.lower()
            break
    if isinstance(node.flags, dict) and node.flags.get("pinned") is True:
        look["pinned"] = True
    return look


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
        through = node.type == "Reroute" or (node.mode == BYPASSED and node.type not in CLASSES)
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


def named_widgets(cls: str, values: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    """Name the widget values of a node of class ``cls``."""
    if isinstance(values, dict):  # newer front ends save named widget values
        return dict(values)
    if not isinstance(values, list) or cls not in CLASSES:
        return {}
    names = list(CLASSES[cls].widgets)
    if len(values) < len(names):  # saved without the UI-only widgets (control_after_generate)
        names = [n for n in names if n is not None]
    return {n: v for n, v in zip(names, values, strict=False) if n is not None}


def apply_ui_layout(graph: Graph, raw: dict[str, Any], layout: dict[str, dict[str, Any]]) -> None:
    """Give ``graph`` the modes kept in ``layout`` and the groups of the UI document ``raw``."""
    for node_id, info in layout.items():
        node = graph.nodes.get(node_id)
        if node is not None:
            node.mode = info.get("mode") or node.mode
            node.colour, node.pinned = info.get("colour"), bool(info.get("pinned"))
    groups = raw.get("groups")
    for item in groups if isinstance(groups, list) else []:  # damaged: no groups, no crash
        group = _group(item)
        if group is not None:
            graph.groups.append(group)


def _group(item: Any) -> Group | None:
    """A ComfyUI group ``{"title", "bounding": [x, y, w, h], "color"}`` (None if malformed)."""
    if not isinstance(item, dict):
        return None
    box = item.get("bounding")
    try:
        x, y, w, h = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    colour = item.get("color")
    colour = colour if isinstance(colour, str) and colour.startswith("#") else "#3f5a7a"
    return Group(str(item.get("title") or "Group")[:200], (x, y, w, h), colour[:16])
