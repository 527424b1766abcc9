"""One workflow tab: its own document (undo history, file, unsaved marker), canvas, autosave
slot and run state; the menus, clipboard, link drops and reroutes work on it."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.gui.canvas import Canvas
from app.gui.canvas_menus import CanvasMenus
from app.gui.clipboard import NodeClipboard
from app.gui.document import Document
from app.gui.files import WorkflowFiles
from app.gui.link_drop import LinkDrop
from app.gui.minimap import MiniMap
from app.gui.model_hints import SizeAdvice
from app.gui.reroute import Reroutes
from app.gui.run_view import RunPresenter, RunWidgets
from app.gui.window_api import StudioWindow


def autosave_name(slot: int) -> str:
    """The autosave file of tab slot ``slot`` (slot 0 keeps the single-window name)."""
    return "autosave.json" if slot == 0 else f"autosave-{slot}.json"


def slot_of(name: str) -> int | None:
    """The slot an autosave file name belongs to, None when it is not one."""
    if name == "autosave.json":
        return 0
    stem = name.removeprefix("autosave-").removesuffix(".json")
    if name.startswith("autosave-") and name.endswith(".json") and stem.isdigit():
        return int(stem)
    return None


class WorkflowTab(QObject):
    """Everything that belongs to one open workflow.

    ``slot`` numbers its autosave file; a tab reopened after a crash takes the slot its
    autosave had.
    """

    def __init__(self, window: StudioWindow, widgets: RunWidgets, slot: int,
                 autosave_ms: int = 60_000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.document = Document(window.registry, self)
        self.canvas = Canvas(self.document, self)
        self.files = WorkflowFiles(self.document, window.settings, window.data_dir,
                                   autosave_ms=autosave_ms, autosave_name=autosave_name(slot),
                                   parent=self)
        self.clipboard = NodeClipboard(self.document, self.canvas, self)
        self.presenter = RunPresenter(self.canvas, widgets, self)
        self.size_advice = SizeAdvice(self.document, widgets.messages, self)
        self.link_drop = LinkDrop(window, self.canvas)
        self.menus = CanvasMenus(window, self.canvas, self.link_drop)
        self.reroutes = Reroutes(self.canvas)
        self.minimap = MiniMap(self.canvas)

    def label(self) -> str:
        """The tab's text: the file name (the image it came from, or Untitled), with * when
        it has unsaved changes."""
        return self.document.name + (" *" if self.document.dirty else "")

    def reusable(self) -> bool:
        """An untitled tab without changes: opening a workflow may replace it (nothing of
        the user's is lost), instead of adding a tab."""
        return self.document.path is None and not self.document.dirty
