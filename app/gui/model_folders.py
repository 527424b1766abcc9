"""Settings > Model folders: the folders added to the model folder config, a picker to add
one from anywhere on disk, and "Remove" to take one out again (its files stay where they are). Its files are then models for the window and the command line, under
the same confinement rules as the configured folders (``pipelines.loading.folder_config``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from node_api.files import atomic_write
from pipelines.loading.folder_config import detect_layout, with_extra_folder, without_extra_folder
from pipelines.loading.folders import KINDS, ModelFolderConfigError, config_path, extra_entries

LAYOUT_NAMES = {"comfyui": "ComfyUI models folder", "a1111": "AUTOMATIC1111 install",
                "flat": "folder of"}


class ModelFoldersEditor(QWidget):
    """The list, "Add folder…" and "Remove"; a change is written at once, keeping the file's
    comments and other entries (one line on a refusal, the file unchanged).

    Signals:
        added(Path): a folder was added to the config.
        removed(str): the folder (as the config wrote it) was removed from the config.
    """

    added = Signal(object)
    removed = Signal(str)

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
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop searching the selected folder for models (its "
                                      "files are not touched)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(lambda: self.remove())
        self.folders.currentRowChanged.connect(
            lambda row: self.remove_button.setEnabled(row >= 0))
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e06c6c")
        self.problem.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("plain folder holds"))
        row.addWidget(self.kind, 1)
        row.addWidget(add)
        row.addWidget(self.remove_button)
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
            item = QListWidgetItem(f"{entry['path']}  ({what})")
            item.setData(Qt.ItemDataRole.UserRole, entry["path"])
            self.folders.addItem(item)
        self.remove_button.setEnabled(self.folders.currentRow() >= 0)

    def choose_folder(self) -> Path | None:
        """A folder dialog (tests replace this)."""
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder", str(Path.home()))
        return Path(folder) if folder else None

    def add(self, folder: Path | None = None) -> bool:
        """Add ``folder`` (asking for it when None) to the config; False when refused."""
        folder = folder or self.choose_folder()
        if folder is None:
            return False
        picked = folder
        done = self._rewrite(lambda text, path: with_extra_folder(
            text, picked.expanduser().absolute(), detect_layout(picked),
            self.kind.currentText(), path))
        if done:
            self.added.emit(folder)
        return done

    def remove(self, folder: str | None = None) -> bool:
        """Remove ``folder`` (the selected one when None) from the config; False when refused
        or nothing is selected."""
        if folder is None:
            item = self.folders.currentItem()
            if item is None:
                return False
            folder = item.data(Qt.ItemDataRole.UserRole)
        name = folder
        done = self._rewrite(lambda text, path: without_extra_folder(text, name, path))
        if done:
            self.removed.emit(folder)
        return done

    def _rewrite(self, edit: Callable[[str, Path], str]) -> bool:
        """Write the config as ``edit(its text, its path)`` returns it, then list it again;
        False (one line shown, the file unchanged) when refused or it cannot be written."""
        path = config_path()
        try:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            atomic_write(path, edit(text, path).encode("utf-8"))
        except ModelFolderConfigError as exc:
            self._say(str(exc).splitlines()[0])
            return False
        except (OSError, UnicodeDecodeError) as exc:
            self._say(f"{path}: cannot update it ({getattr(exc, 'strerror', None) or exc})")
            return False
        self.problem.hide()
        self.refresh()
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
