"""The window's file commands on the current tab: new, open, save, close a tab, recent files,
drops, and the questions they ask (unsaved changes, recovery, file dialogs).

A mixin of :class:`app.gui.main_window.MainWindow`; tests replace the ``ask_*``,
``choose_path`` and ``show_dialog`` hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from app.gui.folders import remember_folder, start_folder

if TYPE_CHECKING:
    from app.gui.panels import PreviewPanel
    from app.gui.tabs import TabSet
    from app.gui.window_api import StudioWindow

    _Window = StudioWindow  # the window's own members (document, canvas, files, runner, ...)
else:
    _Window = object

APP_NAME = "Diffusion Studio"
# what Open offers first: every file that opens as a workflow (ours, ComfyUI's, an image's)
OPEN_FILTER = ("Workflows and images with a workflow (*.json *.png *.webp);;"
               "Workflows (*.json);;Images with a workflow (*.png *.webp);;All files (*)")


class FileCommands(_Window):
    """Typed against ``StudioWindow`` (app.gui.window_api), so the members it uses of the
    window are declared once, there; only the two the feature modules never see are here."""

    tabs: TabSet
    preview: PreviewPanel

    # -- files -------------------------------------------------------------------------
    def ask_save(self) -> str:
        """Ask about unsaved changes: "save", "discard" or "cancel" (tests replace this)."""
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        answer = QMessageBox.question(self, APP_NAME, "Save the changes to this workflow?",
                                      buttons)
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def show_dialog(self, dialog: QDialog) -> None:
        """Show a modal dialog (tests replace this)."""
        dialog.exec()

    def ask_recover(self) -> bool:
        """Offer the autosave of a session that ended without saving (tests replace this)."""
        answer = QMessageBox.question(
            self, APP_NAME, "The last session ended with unsaved changes. Recover them?")
        return answer == QMessageBox.StandardButton.Yes

    def choose_path(self, saving: bool) -> Path | None:
        """A file dialog (tests replace this), starting in the last folder used."""
        folder = start_folder("workflow")
        if saving:
            doc = self.document
            name = doc.path.name if doc.path else (
                f"{doc.source.stem}.json" if doc.source else "workflow.json")
            path, _ = QFileDialog.getSaveFileName(self, "Save workflow",
                                                  str(Path(folder) / name), "Workflows (*.json)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Open workflow", folder, OPEN_FILTER)
        if path:
            remember_folder("workflow", path)
        return Path(path) if path else None

    def new_file(self) -> None:
        """A new empty workflow, in a new tab."""
        self.tabs.add()
        if not self.runner.running:  # the preview of another workflow's run
            self.preview.clear()

    def open_file(self, path: Path | None = None) -> bool:
        """Open a workflow (asking for it when ``path`` is None) in the tab it belongs
        in: a new tab unless the current one is untitled and unchanged (app.gui.tabs)."""
        path = path or self.choose_path(saving=False)
        return path is not None and self.tabs.open(path)

    def close_tab(self, index: int | None = None) -> bool:
        """Close a tab (default: the current one), asking when it has unsaved changes."""
        return self.tabs.close(index)

    def save_file(self) -> bool:
        return self.files.save() if self.document.path else self.save_file_as()

    def save_file_as(self) -> bool:
        path = self.choose_path(saving=True)
        return path is not None and self.files.save(path)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.files.recent():
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_file(p))

    def dragEnterEvent(self, event: object) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: object) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        self.tabs.drop(paths, self.canvas.view_centre())
