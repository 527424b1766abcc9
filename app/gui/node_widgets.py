"""Value editors embedded in the canvas nodes, generated from the same declarations as the panel.

NodeGraphQt wires its own node widgets to ``set_property`` (its undo stack); this one is added
to the node item directly and only emits ``edited``, which the canvas turns into the same
Document edit as the properties panel makes (one undo step on our own history).
"""

from __future__ import annotations

from typing import Any

from NodeGraphQt.widgets.node_widgets import NodeBaseWidget
from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFormLayout, QGraphicsItem, QLabel, QPlainTextEdit, QWidget

from app.gui.widgets import ValueEditor, editor_for
from node_api.declaration import NodeSpec

BOX_WIDTH = 196  # keeps nodes compact; long values scroll inside their field
PROMPT_HEIGHT = 50  # about three lines of a prompt

BOX_STYLE = """
QWidget#nodeValues { background: transparent; }
QWidget#nodeValues QLabel { color: #b4b9c0; background: transparent; }
QWidget#nodeValues QLineEdit, QWidget#nodeValues QSpinBox, QWidget#nodeValues QDoubleSpinBox,
QWidget#nodeValues QComboBox, QWidget#nodeValues QPlainTextEdit {
    background: #1b1d21; border: 1px solid #3c4048; border-radius: 2px; padding: 0px 2px;
}
QWidget#nodeValues QToolButton { padding: 0px 3px; }
"""


class _ValuesBox(QWidget):
    """The form inside the node; NodeGraphQt calls ``setTitleAlign`` on embedded group boxes."""

    def setTitleAlign(self, align: str = "center") -> None:  # noqa: N802 (NodeGraphQt's name)
        """Nothing to align: the rows carry their own labels."""


class NodeValues(NodeBaseWidget):
    """Every declared value of one node as a small editor row inside the node body.

    Signals:
        edited(name, value): the user changed a value here (the caller records the edit).
    """

    edited = Signal(str, object)

    def __init__(self, spec: NodeSpec, values: dict[str, Any],
                 parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent, name="__values__", label="")
        box = _ValuesBox()
        box.setObjectName("nodeValues")
        box.setStyleSheet(BOX_STYLE)
        font = QFont(box.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        box.setFont(font)
        box.setFixedWidth(BOX_WIDTH)
        form = QFormLayout(box)
        form.setContentsMargins(2, 2, 2, 4)
        form.setHorizontalSpacing(6)
        form.setVerticalSpacing(3)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, ValueEditor] = {}
        for decl in spec.values:
            editor = editor_for(decl, values.get(decl.name, decl.default))
            editor.edited.connect(lambda value, name=decl.name: self.edited.emit(name, value))
            self.editors[decl.name] = editor
            label = decl.name.replace("_", " ")
            if isinstance(editor.field, QPlainTextEdit):  # prompts get the full width
                editor.field.setFixedHeight(PROMPT_HEIGHT)
                editor.field.setTabChangesFocus(True)  # Tab goes to the next field
                editor.field.setPlaceholderText(label)
                form.addRow(editor)
            else:
                form.addRow(QLabel(label), editor)
        self.setWidget(box)

    def get_value(self) -> dict[str, Any]:
        """The values shown, by name."""
        return {name: editor.value() for name, editor in self.editors.items()}

    def set_value(self, values: dict[str, Any]) -> None:
        """Show ``values`` without emitting ``edited``; fields already showing them are left
        alone (so the cursor of the field being typed in does not jump)."""
        for name, editor in self.editors.items():
            value = values.get(name, editor.decl.default)
            if editor.value() != value:
                try:
                    editor.set_value(value)
                except (TypeError, ValueError):
                    editor.set_value(editor.decl.default)

