"""One broken node does not sink a ComfyUI file: the branch that needs it is muted.

ComfyUI itself runs every output whose inputs are complete and reports the others. On
import, a node that cannot be mapped (a class we have no node for, or values ComfyUI itself
would refuse) becomes a muted stand-in, every node that needs it (through any chain of links)
is muted too, and one note per broken node names its id, class and reason and the outputs
it disables. The file is refused only when no output is left to run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.interop.comfy_names import NOT_YET, UI_ONLY

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def reason_for(cls: str) -> str:
    """Why a ComfyUI class cannot be mapped, worded the same everywhere."""
    if cls in UI_ONLY:
        return "UI-only node"
    if cls in NOT_YET:
        return f"{NOT_YET[cls]}: no node here yet"
    if cls.startswith(("workflow>", "workflow/")):
        return "a group node whose definition the file does not carry (extra.groupNodes)"
    if _UUID.fullmatch(cls):
        return "a subgraph whose definition the file does not carry (definitions.subgraphs)"
    return "unknown node type here (a custom node?)"


def dependents(prompt: dict[str, Any], broken: set[str]) -> set[str]:
    """Every node of ``prompt`` that needs one of ``broken`` through links (not ``broken``)."""
    consumers: dict[str, set[str]] = {}
    for node_id, item in prompt.items():
        for value in item.get("inputs", {}).values():
            if _is_link(value):
                consumers.setdefault(str(value[0]), set()).add(node_id)
    seen: set[str] = set()
    stack = list(broken)
    while stack:
        for user in consumers.get(stack.pop(), ()):
            if user not in seen and user not in broken:
                seen.add(user)
                stack.append(user)
    return seen


def plan(prompt: dict[str, Any], missing: dict[str, str],
         is_output: Callable[[str], bool]) -> tuple[set[str], list[str]]:
    """The nodes to mute and one note per broken node; the muted set is empty when no
    output would be left to run (the caller then refuses the file)."""
    muted = dependents(prompt, set(missing))
    outputs = [i for i in prompt if i not in missing and is_output(i)]
    if not missing or not any(i not in muted for i in outputs):
        return set(), []
    notes = []
    for node_id, why in missing.items():
        lost = sorted(i for i in dependents(prompt, {node_id}) if is_output(i))
        cls = prompt[node_id].get("class_type")
        disabled = (f"muted with the {len(lost)} output(s) that need it: "
                    + ", ".join(f"#{i} ({prompt[i].get('class_type')})" for i in lost)
                    if lost else "muted (no output needs it)")
        notes.append(f"node #{node_id} ({cls}) cannot be mapped ({why}); {disabled}")
    return muted, notes


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int)
            and isinstance(value[1], int) and not isinstance(value[1], bool))
