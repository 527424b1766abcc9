"""Help -> Keyboard Shortcuts: every action of the window with its keys, plus the mouse
gestures of the canvas, in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout

if TYPE_CHECKING:
    from app.gui.window_api import StudioWindow

GESTURES = (
    ("Double-click a subgraph node", "edit its inside (◀ Back returns)"),
    ("Double-click a link", "put a Reroute in it"),
    ("Drop a link on empty canvas", "add a node that fits it, wired"),
    ("Drag a group's title", "move the group with its nodes"),
    ("Right-click", "menus for the canvas, a node, a port or a group"),
    ("Alt + drag, middle drag", "pan; the wheel zooms"),
)


def shortcut_rows(window: StudioWindow) -> list[tuple[str, str]]:
    """(what, keys) for each action that has keys, then the mouse gestures."""
    rows = []
    for action in window.actions.values():
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                         for s in action.shortcuts())
        if keys:
            rows.append((action.text().replace("&", "").rstrip("…"), keys))
    return rows + list(GESTURES)


class ShortcutsDialog(QDialog):
    def __init__(self, window: StudioWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Command", "Keys / gesture"])
        for row, (what, keys) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)
