"""NodeGraphQt node classes generated from the registry's NodeSpecs, with a run-state look.

No per-node Qt code: one class per spec is made with ``type()``; ports are coloured by type.
The run state (border, progress bar, status line) and the live denoising preview live on the
view item only, so they never touch NodeGraphQt's properties or undo stack.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import Any

from NodeGraphQt import BaseNode
from NodeGraphQt.qgraphics.node_base import NodeItem
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsSimpleTextItem

from app.engine.registry import Registry
from app.gui.theme import STATE_COLOURS, category_colour, type_colour
from node_api.declaration import NodeSpec

IDENTIFIER = "studio"
WIDGET_MARGIN = 6.0  # between the embedded value editors and the node's edge
PREVIEW_SIZE = 176
# drawn over a bypassed or muted node (RGBA); a muted node is also half transparent
MODE_TINTS = {"bypass": (150, 60, 200, 90), "mute": (20, 20, 20, 110)}  # the longest side of the in-node preview, in scene pixels


class StudioNodeItem(NodeItem):
    """A node item that also draws its run state: border colour, progress, status line."""

    def __init__(self, name: str = "node", parent: Any = None) -> None:
        super().__init__(name, parent)
        self.run_state = "idle"
        self.run_progress: float | None = None
        self._status = QGraphicsSimpleTextItem("", self)
        self._status.setBrush(QColor(200, 204, 210))
        self._status.setPos(2, -18)
        self._preview: QGraphicsPixmapItem | None = None
        self.about = ""  # what the node does (from its declaration), for the tooltip
        self.error = ""  # why its last run failed (or why it cannot run)
        self.mode = "normal"  # the graph node's mode as drawn: normal, bypass or mute
        # "bypassed"/"muted" above the node's top right, beside the status line (drawn inside
        # the node it covered the last value editor)
        self.mode_label = QGraphicsSimpleTextItem("", self)
        self.mode_label.setBrush(QColor(230, 220, 245))
        self.pinned = False
        self._base_colour: tuple[int, ...] | None = None  # its category's, before any colour

    def set_mode(self, mode: str) -> None:
        """Draw the node bypassed (purple tint) or muted (greyed out), or normally."""
        if mode != self.mode:
            self.mode = mode
            self.setOpacity(0.45 if mode == "mute" else 1.0)
            self.mode_label.setText({"bypass": "bypassed", "mute": "muted"}.get(mode, ""))
            self._place_mode_label()
            self.update()

    def set_look(self, colour: str | None, pinned: bool) -> tuple[int, ...]:
        """Draw the node in ``colour`` ("#rrggbb"; None: its category's) and pin it (not
        moved by dragging). Returns the RGBA colour drawn."""
        if self._base_colour is None:
            self._base_colour = tuple(self.color)
        rgba = self._base_colour if colour is None else QColor(colour).getRgb()
        if tuple(self.color) != rgba:
            self.color = rgba
            self.update()
        if pinned != self.pinned:
            self.pinned = pinned
            self.setFlag(self.GraphicsItemFlag.ItemIsMovable, not pinned)
            self._tooltip_disable(self.disabled)
        return rgba

    def set_run_state(self, state: str, text: str = "", progress: float | None = None,
                      error: str = "") -> None:
        self.run_state = state
        self.error = error
        self._tooltip_disable(self.disabled)
        self.run_progress = progress
        self._status.setText(text)
        colour = STATE_COLOURS.get(state, STATE_COLOURS["idle"])
        self._status.setBrush(QColor(*colour) if state != "idle" else QColor(200, 204, 210))
        if self._preview is not None:  # a stale preview is dimmed, not shown as current
            self._preview.setOpacity(0.4 if state == "stale" else 1.0)
        self.update()

    def _tooltip_disable(self, state: bool) -> None:
        """Our tooltip instead of NodeGraphQt's (which shows its internal type string)."""
        lines = [f"<b>{html.escape(self.name)}</b>"]
        if self.about:
            lines.append(html.escape(self.about).replace("\n", "<br/>"))
        if self.pinned:
            lines.append("<i>Pinned: dragging does not move it (node menu: Pin)</i>")
        if self.error:
            colour = "#eb6464" if self.run_state == "failed" else "#ebaa3c"
            lines.append(f'<span style="color:{colour}">{html.escape(self.error).replace(chr(10), "<br/>")}</span>')
        self.setToolTip("<br/>".join(lines))

    # NodeGraphQt puts embedded widgets beside the port labels, which makes nodes wide; ours
    # go in a block under the ports (as in ComfyUI), so a node is as wide as its widest row.
    def _calc_size_horizontal(self) -> tuple[float, float]:
        widgets = [w for w in self._widgets.values() if w.isVisible()]
        saved, self._widgets = self._widgets, OrderedDict()
        try:
            width, height = super()._calc_size_horizontal()
        finally:
            self._widgets = saved
        if not widgets:
            return width, height
        block_w = max(w.boundingRect().width() for w in widgets) + 2 * WIDGET_MARGIN
        block_h = sum(w.boundingRect().height() for w in widgets)
        return max(width, block_w), height + block_h + WIDGET_MARGIN

    def _align_widgets_horizontal(self, v_offset: float) -> None:
        rect = self.boundingRect()
        ports = [p for p in (*self.inputs, *self.outputs) if p.isVisible()]
        y = max((p.pos().y() + p.boundingRect().height() for p in ports),
                default=rect.y() + v_offset)
        for widget in self._widgets.values():
            if widget.isVisible():
                widget.setPos(rect.center().x() - widget.boundingRect().width() / 2, y)
                y += widget.boundingRect().height()

    def show_preview(self, pixmap: QPixmap) -> None:
        """Show ``pixmap`` (a small denoising preview) under the node, scaled with Qt.

        One pixmap item is made on the first frame and reused for every later one.
        """
        if pixmap.isNull():
            return
        mode = (Qt.TransformationMode.FastTransformation if 2 * pixmap.width() < PREVIEW_SIZE
                else Qt.TransformationMode.SmoothTransformation)  # tiny latents stay crisp
        side = min(PREVIEW_SIZE, max(self.boundingRect().width() - 8, 64))
        scaled = pixmap.scaled(int(side), int(side), Qt.AspectRatioMode.KeepAspectRatio, mode)
        if self._preview is None:
            self._preview = QGraphicsPixmapItem(self)
            self._preview.setToolTip("Live preview of the denoising")
        self._preview.setPixmap(scaled)
        self._place_preview()
        self._preview.setVisible(True)

    def _place_mode_label(self) -> None:
        rect = self.boundingRect()
        self.mode_label.setPos(rect.right() - self.mode_label.boundingRect().width() - 4, -18)

    def _place_preview(self) -> None:
        if self._preview is not None:
            rect = self.boundingRect()
            width = self._preview.pixmap().width()
            self._preview.setPos(rect.center().x() - width / 2, rect.bottom() + 6)

    def draw_node(self) -> None:
        """NodeGraphQt's layout, then the preview under the node's new bottom (collapse)."""
        super().draw_node()
        self._place_preview()
        self._place_mode_label()

    @property
    def preview_item(self) -> QGraphicsPixmapItem | None:
        """The in-node preview (None until the node has shown one)."""
        return self._preview

    @property
    def status_text(self) -> str:
        return self._status.text()

    def paint(self, painter: QPainter, option: Any, widget: Any) -> None:
        super().paint(painter, option, widget)
        rect = self.boundingRect().adjusted(1, 1, -1, -1)
        if self.mode in MODE_TINTS:
            painter.save()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(*MODE_TINTS[self.mode]))
            painter.drawRoundedRect(rect, 4.0, 4.0)
            painter.restore()
        if self.run_state == "idle":
            return
        painter.save()
        pen = QPen(QColor(*STATE_COLOURS.get(self.run_state, (200, 200, 200))), 2.5)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 4.0, 4.0)
        if self.run_progress is not None:
            bar = QRectF(rect.left() + 4, rect.bottom() - 6, (rect.width() - 8), 3)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 120))
            painter.drawRect(bar)
            bar.setWidth(bar.width() * max(0.0, min(1.0, self.run_progress)))
            painter.setBrush(QColor(*STATE_COLOURS["running"]))
            painter.drawRect(bar)
        painter.restore()


class CompactNodeItem(StudioNodeItem):
    """A reroute: a small dot-like node with one input and one output, no title or labels."""

    SIZE = (44.0, 26.0)

    def _set_base_size(self, add_w: float = 0.0, add_h: float = 0.0) -> None:
        self._width, self._height = self.SIZE

    def _align_ports_horizontal(self, v_offset: float) -> None:
        super()._align_ports_horizontal(4.0)

    def _draw_node_horizontal(self) -> None:
        super()._draw_node_horizontal()
        self._text_item.setVisible(False)
        for text in (*self._input_items.values(), *self._output_items.values()):
            text.setVisible(False)

    def set_proxy_mode(self, mode: bool) -> None:
        super().set_proxy_mode(mode)
        self._text_item.setVisible(False)


def port_tooltip(name: str, type_name: str, description: str, note: str = "") -> str:
    """``name: TYPE (note)`` and the port's description on the next line."""
    head = f"{name}: {type_name}" + (f" ({note})" if note else "")
    return f"{head}\n{description}" if description else head


def class_name(type_id: str) -> str:
    return "N_" + "".join(c if c.isalnum() else "_" for c in type_id)


def view_type(spec: NodeSpec) -> str:
    """The NodeGraphQt type string of ``spec``'s generated class."""
    return f"{IDENTIFIER}.{spec.category}.{class_name(spec.type_id)}"


def make_node_class(spec: NodeSpec, suffix: str = "") -> type[BaseNode]:
    """A BaseNode subclass whose ports mirror ``spec``'s links and outputs (``suffix`` tells
    apart classes of one type id whose ports changed, as a subgraph's do)."""

    def __init__(self: BaseNode) -> None:
        BaseNode.__init__(self, CompactNodeItem if spec.passthrough else StudioNodeItem)
        for link in spec.links:
            port = self.add_input(link.name, multi_input=False, color=type_colour(link.type))
            port.view.setToolTip(port_tooltip(link.name, link.type, link.description,
                                              "optional" if link.optional else ""))
        for output in spec.outputs:
            port = self.add_output(output.name, multi_output=True,
                                   color=type_colour(output.type))
            port.view.setToolTip(port_tooltip(output.name, output.type, output.description))
        self.view.about = f"{spec.description}\n{spec.type_id}".strip()
        r, g, b = category_colour(spec.category)
        self.model.color = (r, g, b, 255)
        self.view.color = (r, g, b, 255)

    return type(
        class_name(spec.type_id) + suffix,
        (BaseNode,),
        {
            "__identifier__": f"{IDENTIFIER}.{spec.category}",
            "NODE_NAME": spec.title,
            "__init__": __init__,
            "type_id": spec.type_id,
        },
    )


PLACEHOLDER_TYPE = f"{IDENTIFIER}.missing.PlaceholderNode"


class PlaceholderNode(BaseNode):
    """Stands in for a node whose type this app does not have (e.g. an unmapped ComfyUI
    node): grey, no ports; validation names it so the user can replace it."""

    __identifier__ = f"{IDENTIFIER}.missing"
    NODE_NAME = "Missing node"

    def __init__(self) -> None:
        super().__init__(StudioNodeItem)
        self.model.color = (70, 70, 70, 255)
        self.view.color = (70, 70, 70, 255)


def node_classes(registry: Registry) -> dict[str, type[BaseNode]]:
    """Generated classes by engine type id."""
    return {spec.type_id: make_node_class(spec) for spec in registry}
