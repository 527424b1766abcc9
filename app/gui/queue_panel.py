"""The Queue panel: batch count, the run queue (pending/running/done) and the history.

The history is rebuilt from the output folder (newest first): every PNG the studio saved
carries its workflow, so it survives restarts, and "Open Workflow" opens the one an image
was made with.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.gui.run_queue import PENDING, RUNNING, RunQueue
from app.interop.open import carries_workflow

HISTORY_LIMIT = 200  # newest images listed
THUMB = 48


class QueuePanel(QWidget):
    """Shows ``queue`` and the images in the output folder.

    Signals:
        open_workflow(Path): the user asked for the workflow of a history image.
    """

    open_workflow = Signal(object)

    def __init__(self, queue: RunQueue, cancel_running: object,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._cancel_running = cancel_running
        self.output_dir: Path | None = None
        self._seen: dict[Path, tuple[float, QIcon | None]] = {}  # read once per file version
        self.batch = QSpinBox()
        self.batch.setRange(1, 999)
        self.batch.setToolTip("Run the workflow this many times, the seed counting up by one")
        self.list = QListWidget()
        self.list.setToolTip("Runs waiting (in order), running and done this session")
        self.history = QListWidget()
        self.history.setIconSize(QSize(THUMB, THUMB))
        self.history.setToolTip("Images in the output folder; double-click to open the "
                                "workflow that made one")
        self.history.itemDoubleClicked.connect(lambda _i: self.open_selected())
        buttons = QHBoxLayout()
        for text, slot, tip in (
            ("▲", lambda: self._move(-1), "Run earlier"),
            ("▼", lambda: self._move(1), "Run later"),
            ("Cancel", self._cancel, "Cancel the selected run (or stop it if running)"),
            ("Clear Pending", queue.clear_pending, "Remove every run still waiting"),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, s=slot: s())
            buttons.addWidget(button)
        head = QHBoxLayout()
        head.addWidget(QLabel("Batch count"))
        head.addWidget(self.batch)
        head.addStretch(1)
        self.open_button = QPushButton("Open Workflow")
        self.open_button.setToolTip("Open the workflow saved in the selected image")
        self.open_button.clicked.connect(lambda _c=False: self.open_selected())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("History"))
        layout.addWidget(self.history, 2)
        layout.addWidget(self.open_button)
        queue.changed.connect(self.refresh_queue)

    # -- queue -------------------------------------------------------------------------
    def refresh_queue(self) -> None:
        selected = self._selected_number()
        self.list.clear()
        for entry in self.queue.entries:
            item = QListWidgetItem(entry.text())
            item.setData(Qt.ItemDataRole.UserRole, entry.number)
            if entry.status not in (PENDING, RUNNING):
                item.setForeground(Qt.GlobalColor.gray)
            self.list.addItem(item)
            if entry.number == selected:
                self.list.setCurrentItem(item)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def select(self, number: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == number:
                self.list.setCurrentRow(i)

    def _selected_number(self) -> int | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _move(self, delta: int) -> None:
        number = self._selected_number()
        if number is not None:
            self.queue.move(number, delta)

    def _cancel(self) -> None:
        number = self._selected_number()
        entry = self.queue.entry(number) if number is not None else None
        if entry is None:
            return
        if entry.status == RUNNING:
            self._cancel_running()  # type: ignore[operator]
        else:
            self.queue.remove(number)

    # -- history -----------------------------------------------------------------------
    def refresh_history(self, output_dir: Path | None = None) -> None:
        """List the output folder's PNGs that carry a workflow, newest first."""
        self.output_dir = output_dir or self.output_dir
        self.history.clear()
        folder = self.output_dir
        if folder is None or not folder.is_dir():
            return
        pngs = sorted(folder.rglob("*.png"), key=lambda p: (p.stat().st_mtime, p.name),
                      reverse=True)[:HISTORY_LIMIT]
        for path in pngs:
            icon = self._icon(path)
            if icon is None:
                continue
            item = QListWidgetItem(path.name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            item.setIcon(icon)
            self.history.addItem(item)

    def _icon(self, path: Path) -> QIcon | None:
        """The thumbnail of a PNG that carries a workflow (None if it carries none); each
        file is read once, again only when it changes."""
        mtime = path.stat().st_mtime
        seen = self._seen.get(path)
        if seen is not None and seen[0] == mtime:
            return seen[1]
        icon = None
        if carries_workflow(path):
            pixmap = QPixmap(str(path))
            icon = QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)) \
                if not pixmap.isNull() else QIcon()
        self._seen[path] = (mtime, icon)
        return icon

    def history_paths(self) -> list[Path]:
        return [Path(self.history.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.history.count())]

    def open_selected(self) -> None:
        item = self.history.currentItem()
        if item is not None:
            self.open_workflow.emit(Path(item.data(Qt.ItemDataRole.UserRole)))
