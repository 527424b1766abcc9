"""ComfyUI subgraphs (front end 1.24+) expanded into plain nodes before import.

A UI document lists each subgraph's definition once under ``definitions.subgraphs``: its own
``nodes`` and ``links`` (link objects ``{id, origin_id, origin_slot, target_id, target_slot,
type}``), its ordered ``inputs`` and ``outputs``, and two virtual nodes standing for them
inside (``inputNode``, id -10, as a link origin: ``origin_slot`` is the input's index;
``outputNode``, id -20, as a link target: ``target_slot`` is the output's index). A use of it
is a node whose ``type`` is the definition's id, with inputs and outputs in the definition's
order. A value typed into a promoted widget is in the instance's ``widgets_values``: one per
input that carries a ``widget``, or one per ``properties.proxyWidgets`` entry
(``[inner node id, widget name]``).

Each use becomes the inner nodes (ids ``<instance id>:<inner id>``, as ComfyUI numbers them
when it queues), nested subgraphs included, with the links rewired.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from app.interop.comfy_groups import as_list, check_size, link_rows, plain
from app.interop.comfy_ui import named_widgets

MAX_DEPTH = 16


def definitions(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every subgraph definition of a UI document by id, nested definitions included."""
    found: dict[str, dict[str, Any]] = {}
    stack = [raw]
    while stack:
        doc = stack.pop()
        defs = doc.get("definitions")
        for item in (defs.get("subgraphs") if isinstance(defs, dict) else None) or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str) \
                    and isinstance(item.get("nodes"), list) and item["id"] not in found:
                found[item["id"]] = item
                stack.append(item)
    return found


def expand_subgraphs(raw: dict[str, Any], note: Callable[[str], None]) -> dict[str, Any]:
    """``raw`` with every subgraph node replaced by its inner nodes."""
    defs = definitions(raw)
    if not defs:
        return raw
    doc = dict(raw)
    doc["links"] = link_rows(raw.get("links"))
    for _ in range(MAX_DEPTH + 1):
        users = [n for n in doc.get("nodes") or [] if isinstance(n, dict)
                 and isinstance(n.get("type"), str) and n["type"] in defs]
        if not users:
            return doc
        for node in users:
            _expand(doc, node, defs[node["type"]], note)
            check_size(doc)
    note(f"subgraphs are nested more than {MAX_DEPTH} deep; the deepest are left out")
    doc["nodes"] = [n for n in doc["nodes"] if not (isinstance(n, dict) and n.get("type") in defs)]
    return doc


def _fresh(rows: list[list[Any]]) -> Iterator[int]:
    taken = [r[0] for r in rows if isinstance(r[0], int) and not isinstance(r[0], bool)]
    start = max(taken, default=0) + 1
    while True:
        yield start
        start += 1


def _expand(doc: dict[str, Any], outer: dict[str, Any], sub: dict[str, Any],
            note: Callable[[str], None]) -> None:
    sid = str(outer.get("id"))
    name = str(sub.get("name") or sub.get("id"))
    in_id, out_id = _io_id(sub, "inputNode", -10), _io_id(sub, "outputNode", -20)
    fresh = _fresh(doc["links"])
    rows = {r[0]: r for r in doc["links"]}
    outer_inputs = [i if isinstance(i, dict) else {} for i in as_list(outer.get("inputs"))]
    # what feeds each subgraph input from outside: (origin, slot) of the outer link
    fed = {k: (rows[i["link"]][1], rows[i["link"]][2]) for k, i in enumerate(outer_inputs)
           if plain(i.get("link")) and i["link"] in rows}
    inner = []
    for node in as_list(sub.get("nodes")):
        if not isinstance(node, dict):
            continue
        node = copy.deepcopy(node)
        node["id"] = f"{sid}:{node.get('id')}"
        node["inputs"] = [dict(i) | {"link": None} for i in as_list(node.get("inputs"))
                          if isinstance(i, dict)]
        if outer.get("mode") in (2, 4):
            node["mode"] = outer["mode"]
        inner.append(node)
    by_id = {n["id"]: n for n in inner}
    produced: dict[int, tuple[Any, Any]] = {}  # subgraph output index -> inner producer
    for link in link_rows(sub.get("links")):
        _, origin, oslot, target, tslot, *rest = link + [None] * (6 - len(link))
        source = fed.get(oslot) if str(origin) == in_id else (f"{sid}:{origin}", oslot)
        if str(target) == out_id:
            if source is not None:
                produced[tslot] = source
            continue
        node = by_id.get(f"{sid}:{target}")
        if source is None or node is None or not _slot_ok(node, tslot):
            if str(origin) == in_id and node is not None and _slot_ok(node, tslot):
                _promoted_value(outer, oslot, node, tslot)
            continue
        link_id = next(fresh)
        doc["links"].append([link_id, source[0], source[1], node["id"], tslot,
                             rest[0] if rest else "*"])
        node["inputs"][tslot]["link"] = link_id
    _proxy_widgets(outer, by_id, sid)
    for row in doc["links"]:  # the instance's outputs come from their inner producers
        if str(row[1]) == sid:
            if row[2] in produced:
                row[1], row[2] = produced[row[2]]
            else:
                note(f"subgraph node #{sid} ({name}): output {row[2]} is not connected "
                     "inside the subgraph")
    doc["nodes"] = [n for n in doc["nodes"] if n is not outer] + inner


def _io_id(sub: dict[str, Any], key: str, default: int) -> str:
    """The id of a subgraph's virtual input or output node (-10 and -20 as saved)."""
    node = sub.get(key)
    return str(node.get("id", default)) if isinstance(node, dict) else str(default)


def _slot_ok(node: dict[str, Any], slot: Any) -> bool:
    return isinstance(slot, int) and 0 <= slot < len(node["inputs"])


def _promoted_value(outer: dict[str, Any], index: Any, node: dict[str, Any], slot: int) -> None:
    """An unlinked subgraph input that stands for a widget: the instance's value of it."""
    widget = node["inputs"][slot].get("widget")
    if not isinstance(widget, dict) or not isinstance(widget.get("name"), str):
        return
    inputs = [i if isinstance(i, dict) else {} for i in as_list(outer.get("inputs"))]
    values = outer.get("widgets_values")
    if not isinstance(index, int) or not 0 <= index < len(inputs):
        return
    if isinstance(values, dict):
        name = inputs[index].get("name")
        value = values.get(name, _MISSING) if isinstance(name, str) else _MISSING
    elif isinstance(values, list):
        with_widget = [k for k, i in enumerate(inputs) if i.get("widget")]
        if len(with_widget) != len(values) or index not in with_widget:
            return
        value = values[with_widget.index(index)]
    else:
        return
    if value is not _MISSING:
        _set_widget(node, widget["name"], value)


def _proxy_widgets(outer: dict[str, Any], by_id: dict[str, dict[str, Any]], sid: str) -> None:
    """Values of widgets promoted with ``properties.proxyWidgets``."""
    props = outer.get("properties")
    proxies = props.get("proxyWidgets") if isinstance(props, dict) else None
    values = outer.get("widgets_values")
    if not isinstance(proxies, list) or not isinstance(values, list) \
            or len(proxies) != len(values):
        return
    for proxy, value in zip(proxies, values, strict=True):
        if isinstance(proxy, list) and len(proxy) == 2 and isinstance(proxy[1], str):
            node = by_id.get(f"{sid}:{proxy[0]}")
            if node is not None:
                _set_widget(node, proxy[1], value)


def _set_widget(node: dict[str, Any], name: str, value: Any) -> None:
    own = named_widgets(str(node.get("type")), node.get("widgets_values"))
    own[name] = value
    node["widgets_values"] = own


_MISSING = object()
