"""The window's menus, toolbar and keyboard shortcuts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.gui.settings_dialog import SettingsDialog
from app.gui.shortcuts import ShortcutsDialog
from app.gui.subgraph_ui import SubgraphBar

if TYPE_CHECKING:
    from app.gui.window_api import StudioWindow

Shortcut = QKeySequence.StandardKey | str | list[str] | None


def _action(window: StudioWindow, text: str, slot: Callable[[], object], shortcut: Shortcut = None,
            canvas_only: bool = False) -> QAction:
    action = QAction(text, window)
    if isinstance(shortcut, list):
        action.setShortcuts([QKeySequence(s) for s in shortcut])
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _checked=False: slot())
    if canvas_only:  # keys like Delete must not fire while typing in a field
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.canvas_actions.append(action)  # every tab's canvas gets them (add_to_canvas)
        window.canvas.widget.addAction(action)
    else:
        window.addAction(action)
    return action


def add_to_canvas(window: StudioWindow, widget: QWidget) -> None:
    """Give a new tab's canvas the canvas-only actions."""
    widget.addActions(window.canvas_actions)


def install_actions(window: StudioWindow) -> dict[str, QAction]:
    """Create every action, menu and toolbar button of ``window``; returns them by name.
    Each acts on the current tab when triggered."""
    w = window
    acts = {
        "new": _action(w, "&New Tab", w.new_file, ["Ctrl+T", "Ctrl+N"]),
        "open": _action(w, "&Open…", lambda: w.open_file(), QKeySequence.StandardKey.Open),
        "save": _action(w, "&Save", w.save_file, QKeySequence.StandardKey.Save),
        "save_as": _action(w, "Save &As…", w.save_file_as, "Ctrl+Shift+S"),
        "close_tab": _action(w, "&Close Tab", lambda: w.close_tab(), "Ctrl+W"),
        "quit": _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit),
        "undo": _action(w, "&Undo", lambda: w.document.undo(), "Ctrl+Z"),
        "redo": _action(w, "&Redo", lambda: w.document.redo(), ["Ctrl+Shift+Z", "Ctrl+Y"]),
        "copy": _action(w, "&Copy", lambda: w.clipboard.copy(), "Ctrl+C", canvas_only=True),
        "paste": _action(w, "&Paste", lambda: w.clipboard.paste(), "Ctrl+V",
                         canvas_only=True),
        "duplicate": _action(w, "&Duplicate", lambda: w.clipboard.duplicate(), "Ctrl+D",
                             canvas_only=True),
        "delete": _action(w, "De&lete", lambda: w.clipboard.delete(), ["Delete", "Backspace"],
                          canvas_only=True),
        "settings": _action(w, "Se&ttings…", lambda: w.show_dialog(SettingsDialog(w))),
        "select_all": _action(w, "Select &All", lambda: w.canvas.select_all(), "Ctrl+A",
                              canvas_only=True),
        "frame_all": _action(w, "&Frame All", lambda: w.canvas.frame_all(), ["F", "Home"],
                             canvas_only=True),
        "bypass": _action(w, "&Bypass", lambda: w.canvas.toggle_mode("bypass"), "Ctrl+B",
                          canvas_only=True),
        "mute": _action(w, "&Mute", lambda: w.canvas.toggle_mode("mute"), "Ctrl+M",
                        canvas_only=True),
        "group": _action(w, "Add &Group", lambda: w.menus.add_group(), "Ctrl+G",
                         canvas_only=True),
        "subgraph": _action(w, "Collapse to &Subgraph…", lambda: w.menus.collapse_selection(),
                            "Ctrl+Shift+G", canvas_only=True),
        "search": _action(w, "Add Node…", lambda: w.canvas.show_search(), "Tab",
                          canvas_only=True),
        "run": _action(w, "&Run", w.run_workflow, ["Ctrl+Return", "Ctrl+Enter"]),
        "cancel": _action(w, "&Cancel", w.cancel_run, "Esc"),
    }
    acts["cancel"].setEnabled(False)
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    for name in ("new", "open", "save", "save_as"):
        file_menu.addAction(acts[name])
    w.recent_menu = file_menu.addMenu("Open &Recent")
    file_menu.addSeparator()
    file_menu.addAction(acts["close_tab"])
    file_menu.addAction(acts["quit"])
    edit_menu = bar.addMenu("&Edit")
    for name in ("undo", "redo", None, "copy", "paste", "duplicate", "delete", None,
                 "bypass", "mute", "group", "subgraph", None,
                 "select_all", None, "settings"):
        edit_menu.addAction(acts[name]) if name else edit_menu.addSeparator()
    view_menu = bar.addMenu("&View")
    view_menu.addAction(acts["frame_all"])
    view_menu.addAction(acts["search"])
    acts["minimap"] = QAction("&Minimap", w, checkable=True, checked=True)  # type: ignore
    acts["minimap"].toggled.connect(lambda on: w.show_minimaps(on))
    view_menu.addAction(acts["minimap"])
    w.view_menu = view_menu
    run_menu = bar.addMenu("&Run")
    run_menu.addAction(acts["run"])
    run_menu.addAction(acts["cancel"])
    w.run_menu = run_menu
    help_menu = bar.addMenu("&Help")
    acts["shortcuts"] = _action(w, "&Keyboard Shortcuts", lambda: w.show_dialog(
        ShortcutsDialog(w)), "F1")
    help_menu.addAction(acts["shortcuts"])
    toolbar = w.addToolBar("Main")
    toolbar.setObjectName("main_toolbar")
    for name in ("new", "open", "save", None, "undo", "redo", None, "run", "cancel"):
        toolbar.addAction(acts[name]) if name else toolbar.addSeparator()
    w.addToolBarBreak()
    w.subgraph_bar = SubgraphBar(w)
    w.addToolBar(w.subgraph_bar)
    return acts
