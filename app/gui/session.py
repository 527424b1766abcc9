"""The open tabs between launches: which workflow files were open, in which order and which
in front, and, after a session that ended without saving, each unsaved tab's autosave back in
its own tab (with its file name when it had one).

The list is written to the settings whenever the tabs change (not only on a clean exit), so
a crash loses nothing of it. It is read once, before the window makes its first tab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer

from app.gui.tab import WorkflowTab
from app.gui.tabs import TabSet

KEY = "session/tabs"


@dataclass(frozen=True)
class SavedTab:
    path: Path | None  # its workflow file; None: untitled
    slot: int  # its autosave file (app.gui.tab.autosave_name)


class Session(QObject):
    """Remembers the tabs of ``TabSet`` s in ``settings`` and restores the last launch's."""

    def __init__(self, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.last, self.last_current = read_session(settings)
        self._tabs: TabSet | None = None

    def watch(self, tabs: TabSet) -> None:
        """Write the list whenever a tab is opened, closed, moved, renamed or brought in
        front."""
        self._tabs = tabs
        tabs.created.connect(self._watch_tab)
        tabs.closing.connect(lambda _tab: QTimer.singleShot(0, self.save))
        tabs.widget.currentChanged.connect(lambda _i: self.save())
        tabs.widget.tabBar().tabMoved.connect(lambda _a, _b: self.save())
        for tab in tabs.tabs:
            self._watch_tab(tab)

    def _watch_tab(self, tab: WorkflowTab) -> None:
        tab.document.path_changed.connect(lambda _p: self.save())

    def save(self) -> None:
        tabs = self._tabs
        if tabs is None:
            return
        entries = [{"path": str(t.document.path) if t.document.path else None, "slot": t.slot}
                   for t in tabs.tabs]
        current = tabs.index_of(tabs.current) if tabs.tabs else 0
        self.settings.setValue(KEY, json.dumps({"tabs": entries, "current": current}))

    def restore(self, tabs: TabSet, recover: bool) -> list[str]:
        """Reopen the last launch's tabs (files that still exist) and, with ``recover``,
        every autosave (in its tab, else in a new one). Returns what could not come back, as
        lines for the messages panel. Tabs the user has changed already stay."""
        autosaves = dict(tabs.autosaves()) if recover else {}
        first = tabs.current if len(tabs.tabs) == 1 and tabs.current.reusable() else None
        problems: list[str] = []
        opened: dict[int, WorkflowTab] = {}
        for index, saved in enumerate(self.last):
            tab = self._tab_for(tabs, saved.slot, first)
            autosave = autosaves.pop(saved.slot, None) if tab.slot == saved.slot else None
            if autosave is not None and tab.files.recover(autosave, keep_path=saved.path):
                opened[index] = tab
            elif saved.path is not None and saved.path.is_file() and tab.files.open(saved.path):
                opened[index] = tab
            else:
                if saved.path is not None:
                    problems.append(f"{saved.path}: no longer there; its tab was not reopened")
                if tab is not first:
                    tabs.close(tabs.index_of(tab), ask=False)
        for slot, path in sorted(autosaves.items()):  # autosaves of tabs not in the list
            tab = self._tab_for(tabs, slot, first)
            if tab.files.recover(path):
                opened[len(self.last) + slot] = tab
                if tab.slot != slot:  # kept under this tab's own name from now on
                    tab.files.autosave()
                    path.unlink(missing_ok=True)
            elif tab is not first:
                tabs.close(tabs.index_of(tab), ask=False)
        if opened:
            if first is not None and first not in opened.values() and first.reusable():
                tabs.close(tabs.index_of(first), ask=False)
            tabs.activate(opened.get(self.last_current, next(iter(opened.values()))))
        self.save()
        return problems

    @staticmethod
    def _tab_for(tabs: TabSet, slot: int, first: WorkflowTab | None) -> WorkflowTab:
        """The start-up tab while it is still blank and has this slot, else a new tab."""
        if first is not None and first in tabs.tabs and first.reusable() and first.slot == slot:
            return first
        return tabs.add(slot)


def read_session(settings: QSettings) -> tuple[list[SavedTab], int]:
    """The saved tab list and the index in front; nothing when it is missing or damaged."""
    raw = settings.value(KEY)
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
        entries = [SavedTab(Path(e["path"]) if e.get("path") else None, int(e["slot"]))
                   for e in data["tabs"]]
        current = int(data.get("current", 0))
    except (ValueError, TypeError, KeyError, AttributeError):
        return [], 0
    return [e for e in entries if e.slot >= 0][:64], max(0, current)
