"""The studio window: canvas in the middle, docks around it, runs on a worker thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QWidget,
)

from app.engine.registry import Registry, default_registry
from app.gui.actions import add_to_canvas, install_actions
from app.gui.canvas import Canvas
from app.gui.canvas_menus import CanvasMenus
from app.gui.clipboard import NodeClipboard
from app.gui.document import Document
from app.gui.file_commands import APP_NAME, FileCommands
from app.gui.files import WorkflowFiles
from app.gui.folders import use_settings
from app.gui.gallery import GalleryPanel
from app.gui.minimap import MiniMap
from app.gui.model_hints import SizeAdvice
from app.gui.panels import MessagesPanel, NodeList, PreviewPanel, PropertiesPanel
from app.gui.queue_panel import QueuePanel
from app.gui.reroute import Reroutes
from app.gui.run_launch import queue_run, start_entry
from app.gui.run_queue import QueueEntry, RunQueue
from app.gui.run_settings import RunSettings
from app.gui.run_view import RunPresenter, RunWidgets
from app.gui.session import Session
from app.gui.settings_dialog import saved_device, saved_output
from app.gui.status import StudioStatus
from app.gui.tab import WorkflowTab
from app.gui.tabs import TabSet
from app.gui.worker import RunController
from node_api.events import RunFinished

__all__ = ["APP_NAME", "MainWindow", "user_data_dir"]


def user_data_dir() -> Path:
    from platformdirs import user_data_dir as platform_dir

    return Path(platform_dir("diffusion-studio", appauthor=False))


class MainWindow(FileCommands, QMainWindow):
    """The desktop studio: one tab per open workflow (app.gui.tabs), docks around them.

    ``document``, ``canvas``, ``files``, ... are the current tab's.

    Args:
        registry: node types (default: every node in ``nodes/``).
        settings: where window layout and recent files live (tests pass a temp INI file).
        data_dir: autosave folder; ``output_dir``: where Save Image writes.
        device: run device, "auto" resolves on the worker thread (torch imported there).
        probe_device: after the window shows, describe the device and import the model stack
            on a background thread (tests turn it off).
    """

    def __init__(self, registry: Registry | None = None, settings: QSettings | None = None,
                 data_dir: Path | None = None, output_dir: Path | None = None,
                 device: str = "auto", probe_device: bool = True) -> None:
        super().__init__()
        self.registry = registry or default_registry()
        self.settings = settings or QSettings("diffusion-studio", "studio")
        self.data_dir = data_dir or user_data_dir()
        self.output_dir = output_dir or saved_output(self.settings) or self.data_dir / "output"
        self.device = device if device != "auto" else saved_device(self.settings)
        use_settings(self.settings)
        self._ready = False  # until the first tab, panels and actions exist
        self.canvas_actions: list[QAction] = []
        self.runner = RunController(self.registry, self)
        self.queue = RunQueue(self._start_entry, lambda: self.runner.running, self)
        self._run_owner: WorkflowTab | None = None  # the tab whose run is going
        self.status = StudioStatus(self.statusBar(), device, self)
        self.run_status, self.progress = self.status.run_status, self.status.progress
        self._make_panels()
        self.session = Session(self.settings, self)  # the last launch's tabs, read first
        self.tabs = TabSet(self, self._make_tab, self)
        self.tabs.created.connect(self._wire_tab)
        self.tabs.closing.connect(self._on_tab_closing)
        self.tabs.current_changed.connect(self._on_tab_changed)
        self.tabs.add()
        self.session.watch(self.tabs)
        self.properties = PropertiesPanel(self.document)
        self._build_docks()
        self.setCentralWidget(self.tabs.widget)
        self.runner.warm = self.status.warm_done if probe_device else None
        self.runner.event.connect(self._route_event)
        self.runner.running_changed.connect(self._on_running_changed)
        self.runner.event.connect(self._on_run_event)
        self.runner.event.connect(self.queue.on_event)
        self.actions = install_actions(self)
        self.run_settings = RunSettings(self.settings, self.run_menu, self,
                                        document=lambda: self.document)
        self._rebuild_recent()
        self._wire()
        self._ready = True
        self._update_title()
        self.resize(1400, 860)
        self.restoreGeometry(self.settings.value("window/geometry", b""))
        self.restoreState(self.settings.value("window/state", b""))
        self.subgraph_bar.refresh()  # shown only inside a subgraph, whatever was saved
        self.setAcceptDrops(True)
        self._probe_pending = probe_device

    # -- the current tab ---------------------------------------------------------------
    @property
    def tab(self) -> WorkflowTab:
        return self.tabs.current

    @property
    def document(self) -> Document:
        return self.tabs.current.document

    @property
    def canvas(self) -> Canvas:
        return self.tabs.current.canvas

    @property
    def files(self) -> WorkflowFiles:
        return self.tabs.current.files

    @property
    def clipboard(self) -> NodeClipboard:
        return self.tabs.current.clipboard

    @property
    def menus(self) -> CanvasMenus:
        return self.tabs.current.menus

    @property
    def reroutes(self) -> Reroutes:
        return self.tabs.current.reroutes

    @property
    def presenter(self) -> RunPresenter:
        return self.tabs.current.presenter

    @property
    def size_advice(self) -> SizeAdvice:
        return self.tabs.current.size_advice

    @property
    def minimap(self) -> MiniMap:
        return self.tabs.current.minimap

    def _make_tab(self, slot: int) -> WorkflowTab:
        widgets = RunWidgets(self.messages, self.preview, self.gallery, self.progress,
                             self.run_status)
        return WorkflowTab(self, widgets, slot, parent=self)

    def _wire_tab(self, tab: WorkflowTab) -> None:
        doc, canvas = tab.document, tab.canvas
        doc.dirty_changed.connect(lambda _d: self._update_title())
        doc.path_changed.connect(lambda _p: self._update_title())
        canvas.selection_changed.connect(lambda ids, t=tab: self._on_selection(t, ids))
        canvas.refused.connect(self._on_refused)
        canvas.files_dropped.connect(self.tabs.drop)
        tab.files.message.connect(self.messages.add)
        tab.files.recent_changed.connect(self._rebuild_recent)
        if self._ready:  # tabs after the first (the actions are made with it)
            add_to_canvas(self, canvas.widget)
            tab.minimap.setVisible(self.actions["minimap"].isChecked())
            self.subgraph_bar.watch(doc)

    def _on_tab_changed(self, tab: WorkflowTab) -> None:
        if self._ready:  # not while the first tab is made
            self.properties.set_document(tab.document)
            self.subgraph_bar.refresh()
            self._update_title()

    def _on_selection(self, tab: WorkflowTab, ids: list[str]) -> None:
        if tab is self.tabs.current:
            self.properties.show_node(ids[0] if len(ids) == 1 else None)

    def _on_tab_closing(self, tab: WorkflowTab) -> None:
        self.queue.drop_owner(tab)
        if self._run_owner is tab:
            self._run_owner = None
            self.cancel_run()
            self.messages.add("warning", f"closed {tab.label().rstrip(' *')}: its run was "
                                         "cancelled")

    def show_minimaps(self, on: bool) -> None:
        self.tabs.show_minimaps(on)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._probe_pending:  # once, after the first paint: torch imports in the background
            QTimer.singleShot(0, self.start_probe)

    def start_probe(self) -> None:
        if self._probe_pending:
            self._probe_pending = False
            self.status.probe()

    # -- layout ------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower().replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _make_panels(self) -> None:
        self.node_list = NodeList(self.registry)
        self.preview = PreviewPanel()
        self.messages = MessagesPanel()
        self.gallery = GalleryPanel()
        self.queue_panel = QueuePanel(self.queue, self.cancel_run)
        self.queue_panel.refresh_history(self.output_dir)
        self.queue_panel.open_workflow.connect(self.open_file)

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.docks = {
            "nodes": self._dock("Nodes", self.node_list, left),
            "properties": self._dock("Properties", self.properties, right),
            "preview": self._dock("Preview", self.preview, right),
            "gallery": self._dock("Gallery", self.gallery, bottom),
            "messages": self._dock("Messages", self.messages, bottom),
            "queue": self._dock("Queue", self.queue_panel, bottom),
        }
        self.tabifyDockWidget(self.docks["gallery"], self.docks["messages"])
        self.tabifyDockWidget(self.docks["gallery"], self.docks["queue"])
        self.docks["gallery"].raise_()
        self.resizeDocks([self.docks["nodes"]], [200], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["properties"]], [320], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["gallery"]], [230], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["properties"], self.docks["preview"]], [330, 260],
                         Qt.Orientation.Vertical)

    def _wire(self) -> None:
        self.subgraph_bar.watch(self.document)
        self.node_list.chosen.connect(lambda type_id: self.canvas.add_node(type_id))
        self.messages.node_chosen.connect(lambda node_id: self.canvas.select([node_id]))
        for name in ("nodes", "properties", "preview", "gallery", "messages", "queue"):
            self.view_menu.addAction(self.docks[name].toggleViewAction())

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.name}[*] — {APP_NAME}")
        self.setWindowModified(self.document.dirty)

    def _on_refused(self, why: str) -> None:
        self.statusBar().showMessage(f"link refused: {why}", 6000)
        self.messages.add("warning", f"link refused: {why}")

    # -- running -----------------------------------------------------------------------
    def run_workflow(self, targets: list[str] | None = None) -> bool:
        """Validate the graph and queue it (app.gui.run_launch); False when it has problems."""
        return queue_run(self, self.tab, targets)

    def _start_entry(self, entry: QueueEntry) -> bool:
        owner = entry.owner if entry.owner in self.tabs.tabs else None
        self._run_owner = owner if isinstance(owner, WorkflowTab) else None
        return start_entry(self, entry, self._run_owner)

    def _route_event(self, event: object) -> None:
        """Run events go to the tab the run belongs to (none when it was closed)."""
        if self._run_owner is not None:
            self._run_owner.presenter.on_event(event)

    def cancel_run(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.run_status.setText("cancelling…")

    def _on_run_event(self, event: object) -> None:
        if getattr(event, "status", None) == "failed":
            self.docks["messages"].raise_()
        if isinstance(event, RunFinished):
            self.queue_panel.refresh_history(self.output_dir)

    def _on_running_changed(self, running: bool) -> None:
        self.actions["cancel"].setEnabled(running)
        self.status.run_started(running)

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.tabs.settle_all():
            event.ignore()
            return
        self.queue.clear_pending()
        self.runner.cancel()
        self.runner.wait(10)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        for tab in self.tabs.tabs:
            tab.files.discard_autosave()
        event.accept()
