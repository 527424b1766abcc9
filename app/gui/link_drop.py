"""A link dragged to empty canvas: a menu of the node types that fit it; the chosen node is
added there and wired to the link, as one undo step. A port's right-click menu offers the
same list ("Add Node For This Port", ``fill``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPointF
from PySide6.QtWidgets import QMenu

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.gui.theme import category_name
from node_api.ports import compatible

if TYPE_CHECKING:
    from app.gui.canvas import Canvas
    from app.gui.window_api import StudioWindow


def fitting(registry: Registry, port_type: str, from_output: bool) -> list[tuple[Any, str]]:
    """(spec, port name) of each node type with a port this link can join: an input taking
    ``port_type`` when the link comes from an output, else an output giving it."""
    found = []
    for spec in registry:
        if spec.type_id.startswith("subgraph:"):
            continue
        ports = ([(p.name, p.type) for p in spec.links] if from_output
                 else [(p.name, p.type) for p in spec.outputs])
        name = next((n for n, t in ports if (compatible(port_type, t) if from_output
                                             else compatible(t, port_type))), None)
        if name is not None:
            found.append((spec, name))
    return sorted(found, key=lambda f: (f[0].category, f[0].title))


class LinkDrop(QObject):
    """Listens to the viewer's ``link_dropped`` and shows the menu (``window.menus.open_menu``,
    which tests replace)."""

    def __init__(self, window: StudioWindow, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.window, self.canvas = window, canvas
        canvas.graph_view.viewer().link_dropped.connect(self.dropped)

    def dropped(self, port_item: Any, at: QPointF) -> None:
        menu = self.build(port_item, at)
        if menu is not None:
            viewer = self.canvas.graph_view.viewer()
            self.window.menus.open_menu(menu, viewer.mapToGlobal(viewer.mapFromScene(at)))

    def build(self, port_item: Any, at: QPointF) -> QMenu | None:
        node_id = self.canvas.gid(port_item.node.id)
        from_output = port_item.port_type != "in"
        port = self._port(node_id, port_item.name, from_output)
        if node_id is None or port is None:
            return None
        menu = QMenu(self.window)
        head = menu.addAction(f"add a node for {port.type} {'output' if from_output else 'input'}"
                              f" '{port_item.name}'")
        head.setEnabled(False)
        self.fill(menu, node_id, port_item.name, from_output, at)
        return menu

    def _port(self, node_id: str | None, port_name: str, from_output: bool) -> Any:
        """The declaration of ``node_id``'s port (None for an unknown node or port)."""
        doc = self.canvas.document
        node = doc.graph.nodes.get(node_id) if node_id is not None else None
        spec = doc.registry.get(node.type) if node is not None else None
        if spec is None:
            return None
        return spec.output(port_name) if from_output else spec.input(port_name)

    def fill(self, menu: QMenu, node_id: str, port_name: str, from_output: bool,
             at: QPointF) -> int:
        """Add the node types that fit ``node_id``'s port to ``menu``, a submenu per category;
        choosing one adds it at ``at``, wired. Returns how many there are."""
        port = self._port(node_id, port_name, from_output)
        if port is None:
            return 0
        registry = self.canvas.document.registry
        menus: dict[str, QMenu] = {}
        found = fitting(registry, port.type, from_output)
        for other, name in found:
            sub = menus.get(other.category)
            if sub is None:
                sub = menus[other.category] = menu.addMenu(category_name(other.category))
            sub.addAction(other.title, lambda t=other.type_id, n=name: self.add(
                node_id, port_name, from_output, t, n, (at.x(), at.y())))
        return len(found)

    def add(self, node_id: str, port: str, from_output: bool, type_id: str, other_port: str,
            at: tuple[float, float]) -> str | None:
        """Add ``type_id`` at ``at`` wired to ``node_id``'s ``port``: one undo step."""
        doc, made = self.canvas.document, []

        def change(graph: Graph) -> None:
            x = at[0] if from_output else at[0] - 220
            new = graph.add(type_id, registry=doc.registry, position=(round(x), round(at[1])))
            if from_output:
                graph.connect(node_id, port, new.id, other_port)
            else:
                graph.connect(new.id, other_port, node_id, port)
            made.append(new.id)

        doc.edit("add linked node", change)
        if made:
            self.canvas.select(made)
        return made[0] if made else None
