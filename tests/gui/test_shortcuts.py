"""Help -> Keyboard Shortcuts lists every action's keys and the canvas gestures."""

from __future__ import annotations

from app.gui.shortcuts import ShortcutsDialog


def test_help_lists_the_shortcuts(window):
    shown = []
    window.show_dialog = shown.append
    window.actions["shortcuts"].trigger()
    (dialog,) = shown
    assert isinstance(dialog, ShortcutsDialog)
    table = dialog.table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Bypass"] == "Ctrl+B" and rows["Mute"] == "Ctrl+M"
    assert rows["Add Group"] == "Ctrl+G" and "Ctrl+Return" in rows["Run"]
    assert "Double-click a link" in rows
    assert "&Help" in [a.text() for a in window.menuBar().actions()]
