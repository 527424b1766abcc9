"""Edit > Settings: the output folder and the run device, remembered between sessions, and
the model folders added from anywhere on disk (``app.gui.model_folders``).

``paths/output`` and ``run/device`` in the window's QSettings; a window made without an
explicit output folder or device starts with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.gui.model_folders import ModelFoldersEditor

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from app.gui.window_api import StudioWindow

DEVICES = ("auto", "cpu", "cuda", "mps")


def saved_output(settings: QSettings) -> Path | None:
    value = settings.value("paths/output", "")
    return Path(str(value)) if value else None


def saved_device(settings: QSettings) -> str:
    value = str(settings.value("run/device", "auto"))
    return value if value in DEVICES else "auto"


class SettingsDialog(QDialog):
    """Shows the current choices; ``apply()`` (on OK) stores them and updates the window."""

    def __init__(self, window: StudioWindow) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Settings")
        self.output = QLineEdit(str(window.output_dir))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.output, 1)
        line.addWidget(browse)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(window.device if window.device in DEVICES else "auto")
        self.device.setToolTip("auto picks CUDA, then MPS, then the CPU")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.accepted.connect(self.apply)
        form = QFormLayout(self)
        form.addRow("Output folder", row)
        form.addRow("Run device", self.device)
        self.model_folders = ModelFoldersEditor(self)  # written at once, not on OK
        form.addRow("Model folders", self.model_folders)
        form.addRow(buttons)
        self.resize(560, 320)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text())
        if folder:
            self.output.setText(folder)

    def apply(self) -> None:
        w = self.window
        text = self.output.text().strip()
        if text:
            w.output_dir = Path(text).expanduser()
            w.settings.setValue("paths/output", str(w.output_dir))
            w.queue_panel.refresh_history(w.output_dir)
        w.device = self.device.currentText()
        w.settings.setValue("run/device", w.device)
        w.status.description = f"device: {w.device}"  # the next probe describes it better
        w.status.refresh()
