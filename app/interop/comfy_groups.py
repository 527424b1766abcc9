"""ComfyUI group nodes (``extra.groupNodes``) expanded into plain nodes before import.

The ComfyUI front end (``groupNode.ts``) saves a group node's definition once, under
``extra.groupNodes[name]``: its inner ``nodes`` (in execution order; a node is named by its
index), the ``links`` between them (``[origin index, origin slot, target index, target
slot, origin id, type]``) and the ``external`` outputs (``[index, slot, type]``). A use of it
is a node of type ``workflow>name`` (``workflow/name`` before front end 1.2.63) whose
inputs, outputs and widget values are its inner nodes' free ones, in order:

- inputs: each inner node's link inputs that no inner link feeds, node by node; then the
  widgets converted to inputs that no inner link feeds;
- outputs: each inner node's outputs, except those only used inside the group;
- widget values: each inner node's widgets (a seed's ``control_after_generate`` included)
  that were not converted to inputs, node by node.

Here each use becomes its inner nodes (ids ``<group node id>:<index>``, as ComfyUI numbers
them when it queues) with the links rewired, so the rest of the import sees a plain document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from app.interop.comfy_names import CLASSES
from app.interop.comfy_ui import named_widgets

PREFIXES = ("workflow>", "workflow/")
MAX_DEPTH = 16
MAX_NODES = 20_000  # as app.engine.subgraphs allows


def group_name(node_type: Any, groups: dict[str, Any]) -> str | None:
    """The group-node definition name a node type refers to, or None."""
    if not isinstance(node_type, str):
        return None
    for prefix in PREFIXES:
        if node_type.startswith(prefix) and node_type[len(prefix):] in groups:
            return node_type[len(prefix):]
    return None


def expand_group_nodes(raw: dict[str, Any], note: Callable[[str], None]) -> dict[str, Any]:
    """``raw`` (a UI document) with every group node replaced by its inner nodes."""
    extra = raw.get("extra")
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    if not isinstance(groups, dict) or not groups:
        return raw
    doc = dict(raw)
    doc["links"] = link_rows(raw.get("links"))
    for _ in range(MAX_DEPTH):
        nodes = doc.get("nodes") if isinstance(doc.get("nodes"), list) else []
        users = [n for n in nodes if isinstance(n, dict) and group_name(n.get("type"), groups)]
        if not users:
            return doc
        for node in users:
            name = group_name(node["type"], groups) or ""
            _expand(doc, node, name, groups[name], note)
            check_size(doc)
    return doc


def link_rows(links: Any) -> list[list[Any]]:
    """Links as ``[id, origin, slot, target, slot, type]`` rows (objects in schema 1); rows
    too short or with ids and slots that are not plain values are left out."""
    rows = []
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict):
            link = [link.get(k) for k in ("id", "origin_id", "origin_slot", "target_id",
                                          "target_slot", "type")]
        if isinstance(link, list) and len(link) >= 5 and all(
                isinstance(v, int | str | None) for v in link[:5]):
            rows.append((list(link) + [None])[:max(6, len(link))])
    return rows


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def plain(value: Any) -> bool:
    """A value usable as a key: an id or a slot number."""
    return isinstance(value, int | str)


def check_size(doc: dict[str, Any]) -> None:
    """Expansion multiplies nodes (a group used twice inside one used twice ...): cap it."""
    if len(doc.get("nodes") or []) > MAX_NODES:
        raise ExpansionError(f"expanding its group nodes and subgraphs gives more than "
                             f"{MAX_NODES} nodes")


class ExpansionError(ValueError):
    """A document whose group nodes or subgraphs cannot be expanded."""


def _expand(doc: dict[str, Any], outer: dict[str, Any], name: str, data: Any,
            note: Callable[[str], None]) -> None:
    data = data if isinstance(data, dict) else {}
    inner = [n for n in data.get("nodes") or [] if isinstance(n, dict)] \
        if isinstance(data.get("nodes"), list) else []
    links = [link for link in data.get("links") or [] if isinstance(link, list)
             and len(link) >= 4 and all(plain(v) for v in link[:4])] \
        if isinstance(data.get("links"), list) else []
    gid = str(outer.get("id"))
    fresh = _fresh_link_id(doc["links"])
    inner_nodes: list[dict[str, Any]] = []
    for index, node in enumerate(inner):
        node = copy.deepcopy(node)
        node["id"] = f"{gid}:{index}"
        node["inputs"] = [dict(i) | {"link": None} for i in as_list(node.get("inputs"))
                          if isinstance(i, dict)]
        if outer.get("mode") in (2, 4):
            node["mode"] = outer["mode"]
        node["pos"] = _shifted(node.get("pos"), outer.get("pos"), inner[0].get("pos"))
        inner_nodes.append(node)
    linked_to: dict[int, set[int]] = {}
    linked_from: dict[int, set[int]] = {}
    for origin, oslot, target, tslot, *_ in links:
        if not (_index(origin, inner) and _index(target, inner)):
            continue
        link_id = next(fresh)
        doc["links"].append([link_id, f"{gid}:{origin}", oslot, f"{gid}:{target}", tslot,
                             "*"])
        _set_input_link(inner_nodes[target], tslot, link_id)
        linked_to.setdefault(target, set()).add(tslot)
        linked_from.setdefault(origin, set()).add(oslot)
    external = {(e[0], e[1]) for e in data.get("external") or []
                if isinstance(e, list) and len(e) >= 2 and plain(e[0]) and plain(e[1])} \
        if isinstance(data.get("external"), list) else set()
    _wire_inputs(doc, outer, inner_nodes, linked_to)
    _wire_outputs(doc, outer, inner_nodes, linked_from, external)
    if not _fill_widgets(outer.get("widgets_values"), inner_nodes):
        note(f"group node #{gid} ({name}): its widget values do not line up with its inner "
             "nodes; the values saved in the group definition are used")
    doc["nodes"] = [n for n in doc["nodes"] if n is not outer] + inner_nodes


def _index(value: Any, inner: list[Any]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(inner)


def _fresh_link_id(rows: list[list[Any]]) -> Any:
    taken = [r[0] for r in rows if isinstance(r[0], int) and not isinstance(r[0], bool)]
    start = max(taken, default=0) + 1
    while True:
        yield start
        start += 1


def _shifted(pos: Any, outer: Any, first: Any) -> list[float]:
    """An inner node's position moved so the group's first node sits where the group did."""
    try:
        return [float(pos[0]) - float(first[0]) + float(outer[0]),
                float(pos[1]) - float(first[1]) + float(outer[1])]
    except (TypeError, ValueError, IndexError, KeyError):
        return [0.0, 0.0]


def _set_input_link(node: dict[str, Any], slot: Any, link_id: int) -> None:
    inputs = node["inputs"]
    if isinstance(slot, int) and 0 <= slot < len(inputs):
        inputs[slot]["link"] = link_id


def _wire_inputs(doc: dict[str, Any], outer: dict[str, Any], inner: list[dict[str, Any]],
                 linked_to: dict[int, set[int]]) -> None:
    """The group node's input k feeds the k-th free inner input (links first, then widgets
    converted to inputs), as the front end numbers them."""
    free = [(i, s) for i, n in enumerate(inner) for s, slot in enumerate(n["inputs"])
            if not slot.get("widget") and s not in linked_to.get(i, set())]
    free += [(i, s) for i, n in enumerate(inner) for s, slot in enumerate(n["inputs"])
             if slot.get("widget") and s not in linked_to.get(i, set())]
    rows = {r[0]: r for r in doc["links"]}
    slots = outer.get("inputs") if isinstance(outer.get("inputs"), list) else []
    for k, slot in enumerate(slots):
        link_id = slot.get("link") if isinstance(slot, dict) else None
        if not plain(link_id) or link_id not in rows or k >= len(free):
            continue
        i, s = free[k]
        rows[link_id][3], rows[link_id][4] = inner[i]["id"], s
        inner[i]["inputs"][s]["link"] = link_id


def _wire_outputs(doc: dict[str, Any], outer: dict[str, Any], inner: list[dict[str, Any]],
                  linked_from: dict[int, set[int]], external: set[tuple[Any, Any]]) -> None:
    """The group node's output k is the k-th inner output not only used inside."""
    visible = [(i, s) for i, n in enumerate(inner) for s, _ in enumerate(as_list(n.get("outputs")))
               if s not in linked_from.get(i, set()) or (i, s) in external]
    gid = str(outer.get("id"))
    for row in doc["links"]:
        if str(row[1]) == gid and isinstance(row[2], int) and 0 <= row[2] < len(visible):
            i, s = visible[row[2]]
            row[1], row[2] = inner[i]["id"], s


def _fill_widgets(values: Any, inner: list[dict[str, Any]]) -> bool:
    """Give the inner nodes the group node's widget values; False (and the definition's
    own values kept) when they cannot be lined up."""
    if not isinstance(values, list):
        return values is None
    plan: list[tuple[dict[str, Any], list[str | None]]] = []
    for node in inner:
        cls = node.get("type")
        if not isinstance(cls, str) or cls == "Reroute":
            continue
        if cls not in CLASSES:
            if node.get("widgets_values"):  # cannot know how many values are its own
                return False
            continue
        converted = {s["widget"].get("name") for s in node["inputs"]
                     if isinstance(s.get("widget"), dict) and plain(s["widget"].get("name"))}
        names = [n for n in CLASSES[cls].widgets if n not in converted]
        plan.append((node, names))
    if sum(len(names) for _, names in plan) != len(values):
        return False
    position = 0
    for node, names in plan:
        own = named_widgets(str(node.get("type")), node.get("widgets_values"))
        for name in names:
            if name is not None:
                own[name] = values[position]
            position += 1
        node["widgets_values"] = own
    return True

