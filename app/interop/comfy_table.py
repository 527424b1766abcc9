"""The table the simple ComfyUI mapping modules describe their classes with:
``{ComfyUI class: (our type, links (ComfyUI input -> ours), outputs, widgets in UI order)}``
(a widget None: UI-only), and the import/export pieces every such module derives from it."""

from __future__ import annotations

from typing import Any

Table = dict[str, tuple[str, dict[str, str], tuple[str, ...], tuple[str | None, ...]]]


def table_classes(comfy_class: Any, table: Table) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` of every row."""
    return {cls: comfy_class(type_id, links, outputs, widgets)
            for cls, (type_id, links, outputs, widgets) in table.items()}


def export_classes(table: Table) -> dict[str, str]:
    """Our node type -> ComfyUI class."""
    return {type_id: cls for cls, (type_id, *_rest) in table.items()}


def export_inputs(table: Table) -> dict[str, dict[str, str]]:
    """Our node type -> (our input -> ComfyUI input)."""
    return {type_id: {ours: comfy for comfy, ours in links.items()}
            for type_id, links, _outputs, _widgets in table.values()}
