"""Value editors generated from node declarations (one factory for every node's values)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.gui.folders import remember_folder, start_folder
from node_api.declaration import Boolean, Choice, Float, Int, String, Value

_INT32 = 2**31 - 1
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)"


class ValueEditor(QWidget):
    """Edits one declared value; ``edited`` carries the new value after each user change."""

    edited = Signal(object)

    def __init__(self, decl: Value, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decl = decl
        self.setToolTip(decl.description)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._quiet = False

    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting ``edited``."""
        self._quiet = True
        try:
            self._show(value)
        finally:
            self._quiet = False

    def value(self) -> Any:
        raise NotImplementedError

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _changed(self, *_: Any) -> None:
        if not self._quiet:
            self.edited.emit(self.value())


class IntEditor(ValueEditor):
    def __init__(self, decl: Int, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        lo = decl.min if decl.min is not None else -_INT32
        hi = decl.max if decl.max is not None else _INT32
        self._big = lo < -_INT32 or hi > _INT32 or decl.widget == "seed"
        if self._big:  # seeds exceed a QSpinBox's 32-bit range
            self.field: QWidget = QLineEdit()
            self.field.setValidator(QRegularExpressionValidator(QRegularExpression(r"-?\d{0,19}")))
            self.field.textEdited.connect(self._changed)
        else:
            self.field = QSpinBox()
            self.field.setRange(lo, hi)
            self.field.setSingleStep(decl.step)
            self.field.setKeyboardTracking(False)
            self.field.valueChanged.connect(self._changed)
        self._layout.addWidget(self.field, 1)
        if decl.widget == "seed":
            dice = QToolButton(text="Rnd")  # plain text: emoji fonts are not everywhere
            dice.setToolTip("New random seed")
            dice.clicked.connect(self._randomise)
            self._layout.addWidget(dice)

    def _randomise(self) -> None:
        hi = self.decl.max if self.decl.max is not None else _INT32
        self.field.setText(str(random.randint(self.decl.min or 0, min(hi, 2**32))))
        self._changed()

    def value(self) -> Any:
        if self._big:
            text = self.field.text().strip()
            return int(text) if text.lstrip("-").isdigit() else text
        return self.field.value()

    def _show(self, value: Any) -> None:
        if self._big:
            self.field.setText(str(value))
        else:
            self.field.setValue(int(value))


class FloatEditor(ValueEditor):
    def __init__(self, decl: Float, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        self.field = QDoubleSpinBox()
        self.field.setDecimals(3)
        self.field.setRange(decl.min if decl.min is not None else -1e9,
                            decl.max if decl.max is not None else 1e9)
        self.field.setSingleStep(decl.step)
        self.field.setKeyboardTracking(False)
        self.field.valueChanged.connect(self._changed)
        self._layout.addWidget(self.field)

    def value(self) -> Any:
        return round(self.field.value(), 6)

    def _show(self, value: Any) -> None:
        self.field.setValue(float(value))


class TextEditor(ValueEditor):
    def __init__(self, decl: String, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        if decl.multiline:
            self.field: QWidget = QPlainTextEdit()
            self.field.setFixedHeight(90)
            self.field.textChanged.connect(self._changed)
        else:
            self.field = QLineEdit()
            self.field.textEdited.connect(self._changed)
        self._layout.addWidget(self.field)

    def value(self) -> Any:
        if isinstance(self.field, QPlainTextEdit):
            return self.field.toPlainText()
        return self.field.text()

    def _show(self, value: Any) -> None:
        if isinstance(self.field, QPlainTextEdit):
            if self.field.toPlainText() != value:
                self.field.setPlainText(str(value))
        else:
            self.field.setText(str(value))


class PathEditor(ValueEditor):
    """A file path (kind "path"/"image") or a model name (kind "model:<folder>")."""

    def __init__(self, decl: String, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        self.model_kind = decl.kind.split(":", 1)[1] if decl.kind.startswith("model:") else None
        self.field = QComboBox()
        self.field.setEditable(True)
        self.field.setMinimumContentsLength(12)
        if self.model_kind:
            from nodes._models import list_models

            self.field.addItems(list_models(self.model_kind))
        self.field.currentTextChanged.connect(self._changed)
        browse = QToolButton(text="…")
        browse.setToolTip("Choose a file")
        browse.clicked.connect(self._browse)
        self._layout.addWidget(self.field, 1)
        self._layout.addWidget(browse)

    def _browse(self) -> None:
        kind = "model" if self.model_kind else "image" if self.decl.kind == "image" else "file"
        current = Path(self.field.currentText()).expanduser()
        folder = str(current.parent) if current.is_absolute() and current.parent.is_dir() \
            else start_folder(kind)
        if self.model_kind:
            path = QFileDialog.getExistingDirectory(self, "Choose a model folder", folder)
        else:
            filt = IMAGE_FILTER if kind == "image" else "All files (*)"
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file", folder, filt)
        if path:
            remember_folder(kind, Path(path).parent if self.model_kind else path)
            if kind == "image":
                path = self._adopt(path)
            elif self.model_kind:
                path = self._adopt_model(path)
            if path:
                self.field.setCurrentText(path)

    def _adopt(self, path: str) -> str | None:
        """A hand-picked image, copied into the input folder where a workflow may read it
        (app.engine.picked_images); None, after saying why, when it cannot be used."""
        from app.engine.picked_images import adopt_picked_image

        try:
            return adopt_picked_image(path, getattr(self.window(), "output_dir", None))
        except OSError as exc:  # FileRefused too: not a regular file, too big
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.warning(self, "Image not used", str(exc))
            return None

    def _adopt_model(self, path: str) -> str | None:
        """A hand-picked model outside the model folders: its folder is added to them
        (app.gui.model_folders.adopt_model); None, after saying why, when it cannot be."""
        from app.gui.model_folders import adopt_model

        try:
            return adopt_model(Path(path), self.model_kind or "checkpoints")
        except (OSError, ValueError) as exc:  # ModelFolderConfigError is a ValueError
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.warning(self, "Model folder not added", str(exc))
            return None

    def value(self) -> Any:
        return self.field.currentText()

    def _show(self, value: Any) -> None:
        self.field.setCurrentText(str(value))


class BoolEditor(ValueEditor):
    def __init__(self, decl: Boolean, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        self.field = QCheckBox()
        self.field.toggled.connect(self._changed)
        self._layout.addWidget(self.field)

    def value(self) -> Any:
        return self.field.isChecked()

    def _show(self, value: Any) -> None:
        self.field.setChecked(bool(value))


class ChoiceEditor(ValueEditor):
    def __init__(self, decl: Choice, parent: QWidget | None = None) -> None:
        super().__init__(decl, parent)
        self.field = QComboBox()
        self.field.addItems(list(decl.choices))
        self.field.currentTextChanged.connect(self._changed)
        self._layout.addWidget(self.field)

    def value(self) -> Any:
        return self.field.currentText()

    def _show(self, value: Any) -> None:
        self.field.setCurrentText(str(value))


def editor_for(decl: Value, value: Any, parent: QWidget | None = None) -> ValueEditor:
    """The editor widget for a declared value input, showing ``value``."""
    editor: ValueEditor
    if isinstance(decl, Int):
        editor = IntEditor(decl, parent)
    elif isinstance(decl, Float):
        editor = FloatEditor(decl, parent)
    elif isinstance(decl, Boolean):
        editor = BoolEditor(decl, parent)
    elif isinstance(decl, Choice):
        editor = ChoiceEditor(decl, parent)
    elif isinstance(decl, String) and decl.kind != "text":
        editor = PathEditor(decl, parent)
    elif isinstance(decl, String):
        editor = TextEditor(decl, parent)
    else:
        raise TypeError(f"no editor for {decl!r}")
    try:
        editor.set_value(value)
    except (TypeError, ValueError):
        editor.set_value(decl.default)  # an invalid saved value: validation reports it
    return editor
