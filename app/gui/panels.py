"""Dock panels: node list, properties, messages and the live preview."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.engine.registry import Registry
from app.gui.document import Document
from app.gui.theme import category_colour, category_name
from app.gui.viewer import NODE_MIME
from app.gui.widgets import ValueEditor, editor_for


def fuzzy_match(needle: str, text: str) -> bool:
    """Loose matching, as Tab search does: the needle's characters in order, gaps allowed
    ("emlat" finds "Empty Latent"); spaces in the needle are ignored."""
    chars = iter(text.casefold())
    return all(c in chars for c in needle.casefold() if not c.isspace())


class _NodeTree(QTreeWidget):
    """The node types; an item dragged onto the canvas carries its type id."""

    def mimeData(self, items: Any) -> QMimeData:  # noqa: N802 (Qt's name)
        mime = QMimeData()
        type_ids = [t for i in items if (t := i.data(0, Qt.ItemDataRole.UserRole))]
        if type_ids:
            mime.setData(NODE_MIME, type_ids[0].encode())
        return mime


class NodeList(QWidget):
    """Node types by category, with a filter; activating one emits ``chosen(type_id)``,
    dragging one onto the canvas adds it there."""

    chosen = Signal(str)

    def __init__(self, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="Filter nodes…")
        self.tree = _NodeTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        for category, specs in registry.by_category().items():
            group = QTreeWidgetItem([category_name(category)])
            group.setForeground(0, QColor(*[min(255, c + 90) for c in category_colour(category)]))
            for spec in specs:
                item = QTreeWidgetItem([spec.title])
                item.setData(0, Qt.ItemDataRole.UserRole, spec.type_id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsDragEnabled)
                item.setToolTip(0, spec.description)
                group.addChild(item)
            self.tree.addTopLevelItem(group)
        self.tree.expandAll()
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemDoubleClicked.connect(self._activated)
        self.filter.textChanged.connect(self._apply_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)

    def _activated(self, item: QTreeWidgetItem, *_: Any) -> None:
        type_id = item.data(0, Qt.ItemDataRole.UserRole)
        if type_id:
            self.chosen.emit(type_id)

    def _apply_filter(self, text: str) -> None:
        needle = text.strip()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                child = group.child(j)
                hide = bool(needle) and not any(
                    fuzzy_match(needle, child.data(0, role)) for role in
                    (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole))
                child.setHidden(hide)
                visible += not hide
            group.setHidden(visible == 0)


class PropertiesPanel(QScrollArea):
    """The selected node's title and value editors; edits go to the Document."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.node_id: str | None = None
        self.editors: dict[str, ValueEditor] = {}
        self._editing = False
        self.setWidgetResizable(True)
        document.changed.connect(self._on_changed)
        self.show_node(None)

    def set_document(self, document: Document) -> None:
        """Show another tab's document (nothing selected there yet)."""
        if document is not self.document:
            try:
                self.document.changed.disconnect(self._on_changed)
            except (RuntimeError, TypeError):  # that tab's document is gone already
                pass
            self.document = document
            document.changed.connect(self._on_changed)
        self.show_node(None)

    def show_node(self, node_id: str | None) -> None:
        self.node_id = node_id
        self.editors = {}
        body = QWidget()
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        node = self.document.graph.nodes.get(node_id) if node_id else None
        spec = self.document.registry.get(node.type) if node else None
        if node is None or spec is None:
            hint = QLabel("Select a node to edit its values.", objectName="hint")
            form.addRow(hint)
            self.setWidget(body)
            return
        self.title_edit = QLineEdit(node.title)
        self.title_edit.editingFinished.connect(
            lambda: self.document.set_title(node.id, self.title_edit.text()))
        form.addRow("Title", self.title_edit)
        about = QLabel(f"{spec.description}\n#{node.id} · {spec.type_id}", objectName="hint")
        about.setWordWrap(True)
        form.addRow(about)
        for decl in spec.values:
            editor = editor_for(decl, node.values.get(decl.name, decl.default))
            editor.edited.connect(lambda value, name=decl.name: self._edit(name, value))
            self.editors[decl.name] = editor
            form.addRow(decl.name.replace("_", " "), editor)
        self.setWidget(body)

    def _edit(self, name: str, value: Any) -> None:
        if self.node_id is None:
            return
        self._editing = True
        try:
            self.document.set_value(self.node_id, name, value)
        finally:
            self._editing = False

    def _on_changed(self, kind: str, node_id: Any) -> None:
        if self._editing:
            return
        if self.node_id not in self.document.graph.nodes:
            self.show_node(None)
        elif kind == "value" and node_id == self.node_id:
            node = self.document.graph.nodes[self.node_id]
            for name, editor in self.editors.items():
                value = node.values.get(name, editor.decl.default)
                if editor.value() != value:  # leave alone the fields that already show it
                    editor.set_value(value)
        elif kind != "value":
            self.show_node(self.node_id)


LEVEL_COLOURS = {"error": (235, 100, 100), "warning": (235, 180, 90), "info": (170, 176, 186)}


class MessagesPanel(QListWidget):
    """Problems, failures and notes; activating one that names a node emits ``node_chosen``."""

    node_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)

    def add(self, level: str, text: str, node_id: str | None = None) -> None:
        item = QListWidgetItem(f"{level.upper()}: {text}" if level != "info" else text)
        item.setForeground(QColor(*LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])))
        item.setData(Qt.ItemDataRole.UserRole, node_id)
        self.addItem(item)
        self.scrollToBottom()

    def texts(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]

    def _activated(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.node_chosen.emit(node_id)


def rgb_to_pixmap(array: Any) -> QPixmap:
    """A QPixmap from an HxWx3 uint8 numpy array (copied, so the array may be freed)."""
    import numpy as np

    data = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    height, width = data.shape[:2]
    image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class PreviewPanel(QWidget):
    """The live denoising preview of the running sampler, scaled to fit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(128, 128)
        self.caption = QLabel("No preview yet.", objectName="hint")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._pixmap: QPixmap | None = None
        self.frames = 0
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)

    def show_frame(self, frame: Any, caption: str) -> None:
        """Show one preview frame: a QPixmap or an HxWx3 uint8 array."""
        self._pixmap = frame if isinstance(frame, QPixmap) else rgb_to_pixmap(frame)
        self.frames += 1
        self.caption.setText(caption)
        self._rescale()

    def clear(self) -> None:
        """Back to "No preview yet." (a new workflow was opened)."""
        self._pixmap = None
        self.frames = 0
        self.image.clear()
        self.caption.setText("No preview yet.")

    def show_pixmap(self, pixmap: QPixmap, caption: str) -> None:
        self._pixmap = pixmap
        self.caption.setText(caption)
        self._rescale()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        size = self.image.size()
        mode = Qt.TransformationMode.FastTransformation
        if self._pixmap.width() * 2 < size.width():  # small latents: keep pixels crisp
            mode = Qt.TransformationMode.FastTransformation
        else:
            mode = Qt.TransformationMode.SmoothTransformation
        self.image.setPixmap(self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))
