"""A node's look from its menu: its colour and its pin (``NodeInstance.colour``/``pinned``),
each change one undo step on the selected nodes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from app.engine.graph import Graph
from app.gui.groups import COLOURS

if TYPE_CHECKING:
    from app.gui.document import Document


def set_colour(document: Document, node_ids: Iterable[str], colour: str | None) -> None:
    """Colour ``node_ids`` (None: their category's colour again)."""
    ids = list(node_ids)

    def change(graph: Graph) -> None:
        for node_id in ids:
            if node_id in graph.nodes:
                graph.nodes[node_id].colour = colour

    document.edit("colour", change)


def toggle_pin(document: Document, node_ids: Iterable[str]) -> None:
    """Pin ``node_ids`` (unpin them when all are pinned already)."""
    nodes = [document.graph.nodes[i] for i in node_ids if i in document.graph.nodes]
    pin = not all(n.pinned for n in nodes)
    ids = [n.id for n in nodes]

    def change(graph: Graph) -> None:
        for node_id in ids:
            graph.nodes[node_id].pinned = pin

    document.edit("pin" if pin else "unpin", change)


def add_look_entries(menu: QMenu, document: Document, node_ids: list[str]) -> None:
    """"Colour" (a submenu) and "Pin" in a node's menu, for ``node_ids`` (the selection)."""
    nodes = [document.graph.nodes[i] for i in node_ids if i in document.graph.nodes]
    colours = menu.addMenu("Colour")
    current = {n.colour for n in nodes}
    for name, colour in (("Default", None), *COLOURS.items()):
        action = colours.addAction(name, lambda c=colour: set_colour(document, node_ids, c))
        action.setCheckable(True)
        action.setChecked(current == {colour})
    pin = menu.addAction("Pin", lambda: toggle_pin(document, node_ids))
    pin.setCheckable(True)
    pin.setChecked(bool(nodes) and all(n.pinned for n in nodes))
    pin.setToolTip("A pinned node is not moved by dragging")
