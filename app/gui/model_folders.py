"""Settings > Model folders: the folders added to the model folder config, and a picker to add
one from anywhere on disk. Its files are then models for the window and the command line, under
the same confinement rules as the configured folders (``pipelines.loading.folder_config``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from node_api.files import atomic_write
from pipelines.loading.folder_config import detect_layout, with_extra_folder
from pipelines.loading.folders import KINDS, ModelFolderConfigError, config_path, extra_entries

LAYOUT_NAMES = {"comfyui": "ComfyUI models folder", "a1111": "AUTOMATIC1111 install",
                "flat": "folder of"}


class ModelFoldersEditor(QWidget):
    """The list and "Add folder…"; an addition is written at once (one line on a refusal).

    Signals:
        added(Path): a folder was added to the config.
    """

    added = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folders = QListWidget()
        self.folders.setMaximumHeight(110)
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.kind.setToolTip("What a plain folder holds (a ComfyUI or AUTOMATIC1111 folder "
                             "is read by its layout)")
        add = QPushButton("Add folder…")
        add.clicked.connect(lambda: self.add())
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e06c6c")
        self.problem.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("plain folder holds"))
        row.addWidget(self.kind, 1)
        row.addWidget(add)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.folders)
        column.addLayout(row)
        column.addWidget(self.problem)
        self.refresh()

    def refresh(self) -> None:
        """List the config's folders (a damaged config is named, not raised)."""
        self.folders.clear()
        path = config_path()
        self.folders.setToolTip(f"From {path}")
        try:
            entries = extra_entries(path.read_text(encoding="utf-8"), path) \
                if path.is_file() else []
        except (ModelFolderConfigError, OSError, UnicodeDecodeError) as exc:
            self._say(str(exc).splitlines()[0])
            return
        for entry in entries:
            layout = entry.get("layout", "comfyui")
            what = LAYOUT_NAMES[layout] + (f" {entry.get('kind', 'checkpoints')}"
                                           if layout == "flat" else "")
            self.folders.addItem(f"{entry['path']}  ({what})")

    def choose_folder(self) -> Path | None:
        """A folder dialog (tests replace this)."""
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder", str(Path.home()))
        return Path(folder) if folder else None

    def add(self, folder: Path | None = None) -> bool:
        """Add ``folder`` (asking for it when None) to the config; False when refused."""
        folder = folder or self.choose_folder()
        if folder is None:
            return False
        path = config_path()
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            updated = with_extra_folder(text, folder.expanduser().absolute(),
                                        detect_layout(folder), self.kind.currentText(), path)
            atomic_write(path, updated.encode("utf-8"))
        except ModelFolderConfigError as exc:
            self._say(str(exc))
            return False
        except (OSError, UnicodeDecodeError) as exc:
            self._say(f"{path}: cannot update it ({getattr(exc, 'strerror', None) or exc})")
            return False
        self.problem.hide()
        self.refresh()
        self.added.emit(folder)
        return True

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


def adopt_model(path: Path, kind: str) -> str:
    """A model picked by hand in a node's file dialog: its name when it lies in a model folder
    already; else its folder becomes a model folder of ``kind`` (picked by hand is trusted;
    a workflow naming the same path is not) and the node keeps only the name, so the
    workflow stays portable.

    Raises:
        ModelFolderConfigError, OSError: the folder cannot be added (one line).
    """
    from pipelines.loading.file_policy import is_inside
    from pipelines.loading.folders import model_roots

    if is_inside(path, model_roots()):
        return str(path)
    config = config_path()
    text = config.read_text(encoding="utf-8") if config.is_file() else ""
    atomic_write(config, with_extra_folder(text, path.parent.absolute(), "flat", kind,
                                           config).encode("utf-8"))
    return path.name
