"""Copy, paste and duplicate of canvas nodes through the system clipboard (JSON fragments)."""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QObject
from PySide6.QtWidgets import QApplication

from app.gui.canvas import Canvas
from app.gui.document import Document
from node_api.files import MAX_WORKFLOW_CHARS
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

FRAGMENT_MIME = "application/x-diffusion-studio-fragment"


class NodeClipboard(QObject):
    """Clipboard commands over the canvas selection; every change is one Document edit."""

    def __init__(self, document: Document, canvas: Canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.canvas = document, canvas

    def copy(self) -> None:
        """Put the selected nodes (and the links between them) on the clipboard."""
        fragment = self.document.fragment(self.canvas.selected_ids())
        if fragment["nodes"]:
            mime = QMimeData()
            mime.setData(FRAGMENT_MIME, json.dumps(fragment).encode())
            mime.setText(json.dumps(fragment))  # pasteable into another window as text
            QApplication.clipboard().setMimeData(mime)

    def _fragment(self) -> dict | None:
        mime = QApplication.clipboard().mimeData()
        if mime is None:
            return None
        raw = bytes(mime.data(FRAGMENT_MIME)).decode() if mime.hasFormat(FRAGMENT_MIME) \
            else mime.text()
        try:
            fragment = checked_loads(raw, max_chars=MAX_WORKFLOW_CHARS)
        except (JsonInputError, TypeError):
            return None
        return fragment if isinstance(fragment, dict) and fragment.get("nodes") else None

    def can_paste(self) -> bool:
        return self._fragment() is not None

    def paste(self, at: tuple[float, float] | None = None) -> None:
        """Add the clipboard's nodes (offset, or with their top-left at scene position
        ``at``; with new ids) and select them."""
        fragment = self._fragment()
        if fragment is None:
            return
        offset: tuple[float, float] = (40, 40)
        if at is not None:
            xs, ys = zip(*(n.get("position", (0, 0)) for n in fragment["nodes"]), strict=True)
            offset = (at[0] - min(xs), at[1] - min(ys))
        self.canvas.select(self.document.paste(fragment, offset))

    def duplicate(self) -> None:
        """Copy and paste the selection in one step, leaving the clipboard alone."""
        fragment = self.document.fragment(self.canvas.selected_ids())
        self.canvas.select(self.document.paste(fragment))

    def delete(self) -> None:
        self.document.remove_nodes(self.canvas.selected_ids())
