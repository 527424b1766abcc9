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


def test_settings_dialog_sets_and_remembers_the_output_folder_and_device(window, qtbot,
                                                                          tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.main_window import MainWindow
    from app.gui.settings_dialog import SettingsDialog
    from tests.gui.toy_studio import make_registry

    shown = []
    window.show_dialog = shown.append
    window.actions["settings"].trigger()
    (dialog,) = shown
    assert isinstance(dialog, SettingsDialog)
    assert dialog.output.text() == str(window.output_dir)
    dialog.output.setText(str(tmp_path / "elsewhere"))
    dialog.device.setCurrentText("cpu")
    dialog.accept()
    assert window.output_dir == tmp_path / "elsewhere" and window.device == "cpu"
    again = MainWindow(registry=make_registry(), settings=window.settings,
                       data_dir=tmp_path / "d2", probe_device=False)
    qtbot.addWidget(again)
    assert again.output_dir == tmp_path / "elsewhere" and again.device == "cpu"
    assert isinstance(window.settings, QSettings)
