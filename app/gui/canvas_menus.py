"""Right-click menus of the canvas: on empty canvas, on a node, on a port.

Every entry is a Document edit (one undo step) or a window command; nothing goes through
NodeGraphQt's own menus or undo stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.port import PortItem
from PySide6.QtCore import QObject, QPoint, QPointF, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QInputDialog, QMenu

from app.gui.groups import COLOURS, add_group, bounds_around, change_group, members, remove_group
from app.gui.node_look import add_look_entries
from app.gui.reroute import REROUTE
from app.gui.subgraph_ui import collapse_nodes, expand_node, subgraph_of
from app.gui.value_inputs import convert_back, convert_to_input, convertible, value_ports

if TYPE_CHECKING:
    from app.gui.canvas import Canvas
    from app.gui.link_drop import LinkDrop
    from app.gui.window_api import StudioWindow


def is_saver(spec: object) -> bool:
    """Output nodes that write files into the output folder (they take a file-name prefix)."""
    return bool(getattr(spec, "is_output", False)) and any(
        v.name.endswith("prefix") for v in getattr(spec, "values", ()))


class CanvasMenus(QObject):
    """Builds and shows the canvas's context menus for ``window``."""

    def __init__(self, window: StudioWindow, canvas: Canvas, link_drop: LinkDrop) -> None:
        super().__init__(canvas)
        self.window = window
        self.canvas = canvas
        self.link_drop = link_drop
        self.canvas.graph_view.viewer().menu_requested.connect(self.show)

    # -- hooks tests replace -----------------------------------------------------------
    def open_menu(self, menu: QMenu, global_pos: QPoint) -> None:
        menu.exec(global_pos)

    def ask_text(self, title: str, text: str) -> str | None:
        value, ok = QInputDialog.getText(self.window, title, title, text=text)
        return value if ok else None

    def open_folder(self, folder: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- menus -------------------------------------------------------------------------
    def show(self, global_pos: QPoint, scene_pos: QPointF) -> None:
        self.open_menu(self.build(scene_pos), global_pos)

    def build(self, scene_pos: QPointF) -> QMenu:
        """The menu for what is under ``scene_pos``."""
        group = self.canvas.groups.at(scene_pos)
        if group is not None:
            return self._group_menu(group)
        item = self.canvas.graph_view.viewer().item_at(scene_pos)
        if isinstance(item, PortItem):
            node_id = self.canvas.gid(item.node.id)
            if node_id is not None:
                return self._port_menu(node_id, item.name, item.port_type == "in", scene_pos)
        if isinstance(item, AbstractNodeItem):
            node_id = self.canvas.gid(item.id)
            if node_id is not None:
                return self._node_menu(node_id)
        return self._canvas_menu(scene_pos)

    def _menu(self) -> QMenu:
        menu = QMenu(self.window)
        menu.setToolTipsVisible(True)
        return menu

    def _canvas_menu(self, scene_pos: QPointF) -> QMenu:
        menu, w = self._menu(), self.window
        at = (scene_pos.x(), scene_pos.y())
        menu.addAction("Add Node…", lambda: self.canvas.show_search(at))
        paste = menu.addAction("Paste", lambda: w.clipboard.paste(at))
        paste.setEnabled(w.clipboard.can_paste())
        if REROUTE in w.document.registry:
            menu.addAction("Add Reroute", lambda: w.reroutes.add(at)).setToolTip(
                "A bend for links (double-click a link to put one in it)")
        group = menu.addAction("Add Group", lambda: self.add_group(at))
        group.setToolTip("A titled frame around the selected nodes (or here); dragging its "
                         "title moves the nodes inside")
        menu.addSeparator()
        menu.addAction("Select All", self.canvas.select_all)
        menu.addAction("Fit View", self.canvas.frame_all)
        return menu

    def _node_menu(self, node_id: str) -> QMenu:
        canvas, w = self.canvas, self.window
        if node_id not in canvas.selected_ids():
            canvas.select([node_id])
        node = w.document.graph.nodes[node_id]
        spec = w.registry.get(node.type)
        menu = self._menu()
        run = menu.addAction("Run Up To Here", lambda: w.run_workflow(targets=[node_id]))
        run.setToolTip("Run this node and what it depends on, nothing else (queued when "
                       "a run is going)")
        if is_saver(spec):
            menu.addAction("Open Output Folder", self._open_output_folder)
        menu.addSeparator()
        menu.addAction("Rename…", lambda: self._rename(node_id))
        collapsed = canvas.is_collapsed(node_id)
        collapse = menu.addAction("Expand" if collapsed else "Collapse",
                                  lambda: canvas.set_collapsed(node_id, not collapsed))
        collapse.setEnabled(canvas.node_values(node_id) is not None)
        add_look_entries(menu, w.document, canvas.selected_ids())
        menu.addSeparator()
        for mode, label, key in (("bypass", "Bypass", "Ctrl+B"), ("mute", "Mute", "Ctrl+M")):
            action = menu.addAction(f"{label}\t{key}", lambda m=mode: canvas.toggle_mode(m))
            action.setCheckable(True)
            action.setChecked(node.mode == mode)
        self._value_menus(menu, node_id)
        menu.addAction("Add Group Around Selection", lambda: self.add_group(None))
        menu.addAction("Collapse to Subgraph…", self.collapse_selection)
        if subgraph_of(w.document, node_id) is not None:
            menu.addAction("Edit Subgraph", lambda: w.document.enter(
                subgraph_of(w.document, node_id) or ""))
            menu.addAction("Expand Subgraph", lambda: canvas.select(
                expand_node(w.document, node_id)))
        menu.addSeparator()
        menu.addAction("Duplicate", w.clipboard.duplicate)
        menu.addAction("Delete", w.clipboard.delete)
        return menu

    def _port_menu(self, node_id: str, name: str, is_input: bool,
                   scene_pos: QPointF | None = None) -> QMenu:
        doc = self.window.document
        if is_input:
            links = [(e.target, e.input) for e in doc.graph.edges
                     if (e.target, e.input) == (node_id, name)]
        else:
            links = [(e.target, e.input) for e in doc.graph.edges
                     if (e.source, e.output) == (node_id, name)]
        menu = self._menu()
        title = menu.addAction(f"{'input' if is_input else 'output'} '{name}'")
        title.setEnabled(False)
        label = "Disconnect" if len(links) < 2 else f"Disconnect All ({len(links)})"
        action = menu.addAction(label, lambda: doc.change_links(links, []))
        action.setEnabled(bool(links))
        if is_input and name in value_ports(doc.graph, doc.registry, node_id):
            menu.addAction("Convert Back to Field", lambda: convert_back(doc, node_id, name))
        add = menu.addMenu("Add Node For This Port")
        at = scene_pos or QPointF(*doc.graph.nodes[node_id].position)
        at = at + QPointF(-60 if is_input else 60, 0)  # beside the node, not over it
        add.setEnabled(self.link_drop.fill(add, node_id, name, not is_input, at) > 0)
        return menu

    def _value_menus(self, menu: QMenu, node_id: str) -> None:
        """"Convert to Input" (a value shown as a port a link can drive) and "Convert Back"."""
        doc = self.window.document
        shown = value_ports(doc.graph, doc.registry, node_id)
        names = convertible(doc.graph, doc.registry, node_id)
        to_input = menu.addMenu("Convert to Input")
        for name in (n for n in names if n not in shown):
            to_input.addAction(name, lambda n=name: convert_to_input(doc, node_id, n))
        to_input.setEnabled(not to_input.isEmpty())
        back = menu.addMenu("Convert Back")
        for name in shown:
            back.addAction(name, lambda n=name: convert_back(doc, node_id, n))
        back.setEnabled(bool(shown))

    def _group_menu(self, index: int) -> QMenu:
        doc, menu = self.window.document, self._menu()
        title = menu.addAction(f"group '{doc.graph.groups[index].title}'")
        title.setEnabled(False)
        menu.addAction("Rename Group…", lambda: self._rename_group(index))
        colours = menu.addMenu("Colour")
        for name, colour in COLOURS.items():
            colours.addAction(name, lambda c=colour: change_group(doc, index, colour=c))
        menu.addAction("Select Nodes In Group", lambda: self.canvas.select(
            members(doc.graph, doc.graph.groups[index])))
        menu.addSeparator()
        menu.addAction("Delete Group", lambda: remove_group(doc, index))
        return menu

    # -- commands ----------------------------------------------------------------------
    def add_group(self, at: tuple[float, float] | None = None) -> None:
        """A group around the selected nodes, else a default-sized one at ``at`` (or the
        middle of the view): one undo step."""
        rects = [view.view.sceneBoundingRect() for i in self.canvas.selected_ids()
                 if (view := self.canvas.view_node(i)) is not None]
        if rects:
            bounds = bounds_around(rects)
        else:
            x, y = at if at is not None else self.canvas.view_centre()
            bounds = (x, y, 400.0, 300.0)
        add_group(self.window.document, "Group", bounds)

    def collapse_selection(self) -> None:
        """Collapse the selected nodes into a subgraph node, asking its name."""
        ids = self.canvas.selected_ids()
        if not ids:
            return
        name = self.ask_text("Subgraph name", "Subgraph")
        if name and name.strip():
            made = collapse_nodes(self.window.document, ids, name.strip())
            if made is not None:
                self.canvas.select([made])

    def _rename_group(self, index: int) -> None:
        doc = self.window.document
        title = self.ask_text("Rename group", doc.graph.groups[index].title)
        if title and title.strip():
            change_group(doc, index, title=title.strip())

    def _rename(self, node_id: str) -> None:
        node = self.window.document.graph.nodes.get(node_id)
        if node is None:
            return
        title = self.ask_text("Rename node", node.title)
        if title:
            self.window.document.set_title(node_id, title)

    def _open_output_folder(self) -> None:
        folder = Path(self.window.output_dir)
        if not folder.is_dir():
            self.window.messages.add("info", f"{folder} does not exist yet: nothing was saved")
            return
        self.open_folder(folder)
