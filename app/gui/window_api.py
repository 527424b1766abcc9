"""What the window's feature modules (menus, actions, link drops, reroutes, runs, dialogs) may
use of the studio window, as a Protocol.

They are handed the window and reach the current tab's document and canvas through it. Typing
them against this Protocol instead of ``MainWindow`` keeps app.gui free of import cycles: this
module imports no window module, and ``main_window`` imports the feature modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import QPoint, QSettings
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDialog, QDockWidget, QMenu, QMenuBar, QToolBar

    from app.engine.registry import Registry
    from app.gui.canvas import Canvas
    from app.gui.clipboard import NodeClipboard
    from app.gui.document import Document
    from app.gui.files import WorkflowFiles
    from app.gui.minimap import MiniMap
    from app.gui.model_hints import SizeAdvice
    from app.gui.panels import MessagesPanel
    from app.gui.queue_panel import QueuePanel
    from app.gui.run_queue import RunQueue
    from app.gui.run_settings import RunSettings
    from app.gui.run_view import RunPresenter
    from app.gui.status import StudioStatus
    from app.gui.worker import RunController


class Menus(Protocol):
    """The current tab's canvas menus (app.gui.canvas_menus)."""

    def open_menu(self, menu: QMenu, global_pos: QPoint) -> None: ...
    def add_group(self, at: tuple[float, float] | None = None) -> None: ...
    def collapse_selection(self) -> None: ...


class RerouteMaker(Protocol):
    """The current tab's reroutes (app.gui.reroute)."""

    def add(self, at: tuple[float, float]) -> str | None: ...


class StudioWindow(Protocol):
    """The studio's main window as its feature modules see it."""

    registry: Registry
    settings: QSettings
    data_dir: Path
    output_dir: Path
    device: str
    messages: MessagesPanel
    queue_panel: QueuePanel
    queue: RunQueue
    runner: RunController
    run_settings: RunSettings
    status: StudioStatus
    docks: dict[str, QDockWidget]
    actions: dict[str, QAction]
    canvas_actions: list[QAction]
    recent_menu: QMenu
    view_menu: QMenu
    run_menu: QMenu

    # -- the current tab ---------------------------------------------------------------
    @property
    def document(self) -> Document: ...
    @property
    def canvas(self) -> Canvas: ...
    @property
    def files(self) -> WorkflowFiles: ...
    @property
    def clipboard(self) -> NodeClipboard: ...
    @property
    def menus(self) -> Menus: ...
    @property
    def reroutes(self) -> RerouteMaker: ...
    @property
    def presenter(self) -> RunPresenter: ...
    @property
    def size_advice(self) -> SizeAdvice: ...
    @property
    def minimap(self) -> MiniMap: ...

    # -- commands ----------------------------------------------------------------------
    def new_file(self) -> None: ...
    def open_file(self, path: Path | None = None) -> bool: ...
    def save_file(self) -> bool: ...
    def save_file_as(self) -> bool: ...
    def close_tab(self, index: int | None = None) -> bool: ...
    def run_workflow(self, targets: list[str] | None = None) -> bool: ...
    def cancel_run(self) -> None: ...
    def show_dialog(self, dialog: QDialog) -> None: ...
    def ask_save(self) -> str: ...
    def show_minimaps(self, on: bool) -> None: ...
    def start_probe(self) -> None: ...

    # -- QMainWindow -------------------------------------------------------------------
    def close(self) -> bool: ...
    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's names)
    def addToolBar(self, title: str | QToolBar) -> QToolBar: ...  # noqa: N802
    def addToolBarBreak(self) -> None: ...  # noqa: N802
    def addAction(self, action: QAction) -> None: ...  # noqa: N802
