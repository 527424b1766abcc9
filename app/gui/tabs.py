"""The open workflows, one tab each: new, close (asking about unsaved changes), open or drop
into the right tab, and crash recovery of every tab's autosave."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from app.gui.files import opens_as_workflow
from app.gui.tab import WorkflowTab, slot_of
from app.gui.window_api import StudioWindow


class TabSet(QObject):
    """The tabs of the window's QTabWidget (``widget``); there is always at least one.

    Opening a workflow reuses the current tab when it is untitled and unchanged (the default
    workflow at start-up, a new tab), switches to the tab that already has that file, and
    otherwise opens a new tab: nothing the user has is replaced or asked about.

    Signals:
        created(tab): a tab was made; the window wires it to its panels.
        closing(tab): a tab is about to go; the window drops its queued runs.
        current_changed(tab): another tab is in front.
    """

    created = Signal(object)
    closing = Signal(object)
    current_changed = Signal(object)

    def __init__(self, window: StudioWindow, make: Callable[[int], WorkflowTab],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window, self._make = window, make
        self.widget = QTabWidget()
        self.widget.setObjectName("workflow_tabs")
        self.widget.setDocumentMode(True)
        self.widget.setTabsClosable(True)
        self.widget.setMovable(True)
        self.widget.tabCloseRequested.connect(lambda index: self.window.close_tab(index))
        self.widget.currentChanged.connect(self._on_current)
        self._tabs: dict[QWidget, WorkflowTab] = {}

    # -- which tabs --------------------------------------------------------------------
    @property
    def tabs(self) -> list[WorkflowTab]:
        """In the order shown."""
        return [self._tabs[self.widget.widget(i)] for i in range(self.widget.count())]

    @property
    def current(self) -> WorkflowTab:
        return self._tabs[self.widget.currentWidget()]

    def index_of(self, tab: WorkflowTab) -> int:
        return self.widget.indexOf(tab.canvas.widget)

    def activate(self, tab: WorkflowTab) -> None:
        self.widget.setCurrentWidget(tab.canvas.widget)

    def find(self, path: Path) -> WorkflowTab | None:
        """The tab that has file ``path`` open."""
        wanted = path.resolve()
        return next((t for t in self.tabs if t.document.path is not None
                     and t.document.path.resolve() == wanted), None)

    # -- new / close -------------------------------------------------------------------
    def add(self, slot: int | None = None, activate: bool = True) -> WorkflowTab:
        """A new untitled tab; ``slot`` (its autosave file) when free, else the lowest."""
        used = {t.slot for t in self.tabs}
        if slot is None or slot in used:
            slot = min(set(range(len(used) + 1)) - used)
        tab = self._make(slot)
        self._tabs[tab.canvas.widget] = tab
        self.created.emit(tab)
        tab.document.dirty_changed.connect(lambda _d, t=tab: self._relabel(t))
        tab.document.path_changed.connect(lambda _p, t=tab: self._relabel(t))
        index = self.widget.addTab(tab.canvas.widget, tab.label())
        self._relabel(tab)
        if activate:
            self.widget.setCurrentIndex(index)
        return tab

    def close(self, index: int | None = None, ask: bool = True) -> bool:
        """Close a tab (default: the current one), asking first when it has unsaved changes;
        False when the user cancelled. Closing the last tab leaves an empty one."""
        tab = self.current if index is None else self._tabs.get(self.widget.widget(index))
        if tab is None:
            return False
        if ask and not self.settle(tab):
            return False
        self.closing.emit(tab)
        tab.files.autosave_timer.stop()
        tab.files.discard_autosave()
        widget = tab.canvas.widget
        del self._tabs[widget]
        self.widget.removeTab(self.widget.indexOf(widget))
        if not self._tabs:
            self.add()
        widget.deleteLater()
        tab.deleteLater()
        return True

    def settle(self, tab: WorkflowTab) -> bool:
        """Ask about ``tab``'s unsaved changes (shown in front): True when it may go."""
        if not tab.document.dirty:
            return True
        self.activate(tab)
        answer = self.window.ask_save()
        return answer == "discard" or (answer == "save" and self.window.save_file())

    def settle_all(self) -> bool:
        return all(self.settle(tab) for tab in self.tabs)

    # -- open / drop -------------------------------------------------------------------
    def open(self, path: Path) -> bool:
        """Open ``path`` in the tab it belongs in (see the class docstring)."""
        found = self.find(path) if path.suffix.lower() == ".json" else None
        if found is not None:
            self.activate(found)
            return True
        before = self.current
        tab = before if before.reusable() else self.add()
        if tab.files.open(path):
            tab.canvas.frame_all()
            return True
        if tab is not before:  # nothing was opened: the new tab goes again
            self.close(self.index_of(tab), ask=False)
            self.activate(before)
        return False

    def drop(self, paths: list[Path], position: tuple[float, float]) -> None:
        """Workflows (.json, PNGs carrying one) open as ``open`` does; other images become
        Load Image nodes in the current tab."""
        for path in paths:
            if opens_as_workflow(path):
                self.open(path)
            else:
                self.current.files.drop([path], position)

    # -- autosave ----------------------------------------------------------------------
    def autosaves(self) -> list[tuple[int, Path]]:
        """(slot, file) of each tab's autosave left by a session that did not end well."""
        folder = self.window.data_dir
        found = [(slot, p) for p in folder.glob("autosave*.json")
                 if (slot := slot_of(p.name)) is not None] if folder.is_dir() else []
        return sorted(found)

    def recover(self) -> int:
        """Reopen every autosave as an unsaved tab; returns how many were recovered."""
        count = 0
        for slot, path in self.autosaves():
            first = self.current
            tab = first if first.reusable() and first.slot == slot else self.add(slot)
            if tab.files.recover(path):
                count += 1
                if tab.slot != slot:  # kept under this tab's own name from now on
                    tab.files.autosave()
                    path.unlink(missing_ok=True)
            elif tab is not first:
                self.close(self.index_of(tab), ask=False)
        return count

    # -- looks -------------------------------------------------------------------------
    def show_minimaps(self, on: bool) -> None:
        for tab in self.tabs:
            tab.minimap.setVisible(on)

    def _relabel(self, tab: WorkflowTab) -> None:
        index = self.index_of(tab)
        if index >= 0:
            self.widget.setTabText(index, tab.label())
            path, source = tab.document.path, tab.document.source
            self.widget.setTabToolTip(index, str(path) if path else (
                f"The workflow of {source} (not saved yet)" if source else
                "Untitled (not saved yet)"))

    def _on_current(self, index: int) -> None:
        widget = self.widget.widget(index) if index >= 0 else None
        if widget in self._tabs:
            self.current_changed.emit(self._tabs[widget])
