"""The open tabs come back at the next launch: saved files in their order with the same one
in front, and, after a session that ended without saving, each unsaved tab's changes in its
own tab (with its file name when it had one)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.gui.launch import open_at_start
from app.gui.main_window import MainWindow
from tests.gui.conftest import build_chain
from tests.gui.toy_studio import make_registry


def _relaunch(qtbot, tmp_path: Path, recover: bool = True) -> MainWindow:
    """A new window over the same settings file and data folder, started like run_app."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(registry=make_registry(), settings=settings, data_dir=tmp_path / "data",
                       output_dir=tmp_path / "out", device="cpu", probe_device=False)
    again.ask_save = lambda: "discard"
    again.ask_recover = lambda: recover
    qtbot.addWidget(again)
    open_at_start(again)
    return again


def _saved(window: MainWindow, path: Path) -> Path:
    build_chain(window)
    assert window.files.save(path)
    return path


def test_open_files_come_back_in_order_with_the_same_tab_in_front(window, qtbot, tmp_path):
    a = _saved(window, tmp_path / "a.json")
    window.new_file()
    b = _saved(window, tmp_path / "b.json")
    window.new_file()
    c = _saved(window, tmp_path / "c.json")
    window.tabs.activate(window.tabs.tabs[1])  # b in front
    window.close()
    window.settings.sync()
    again = _relaunch(qtbot, tmp_path)
    assert [t.document.path for t in again.tabs.tabs] == [a, b, c]
    assert again.document.path == b and not any(t.document.dirty for t in again.tabs.tabs)
    assert again.document.graph == window.tabs.tabs[1].document.graph


def test_unsaved_tabs_come_back_from_their_autosaves_after_a_crash(window, qtbot, tmp_path):
    a = _saved(window, tmp_path / "a.json")
    window.canvas.add_node("toy.text", (0, 300))  # a.json, changed since saved
    window.new_file()
    window.canvas.add_node("toy.const", (0, 0))  # an untitled tab
    graphs = [t.document.root.copy() for t in window.tabs.tabs]
    for tab in window.tabs.tabs:
        assert tab.files.autosave() is not None
    window.settings.sync()  # the process dies here: no close, autosaves stay
    again = _relaunch(qtbot, tmp_path)
    assert [t.document.root for t in again.tabs.tabs] == graphs
    assert [t.document.path for t in again.tabs.tabs] == [a, None]
    assert all(t.document.dirty for t in again.tabs.tabs)
    assert again.tab is again.tabs.tabs[1]  # the one in front then
    # saving the recovered a.json writes to its file again
    again.tabs.activate(again.tabs.tabs[0])
    assert again.save_file()
    assert "toy.text" in a.read_text(encoding="utf-8")


def test_declining_recovery_reopens_the_files_and_a_missing_one_is_named(window, qtbot,
                                                                         tmp_path):
    a = _saved(window, tmp_path / "a.json")
    window.new_file()
    gone = _saved(window, tmp_path / "gone.json")
    window.tabs.tabs[0].files.autosave()
    window.canvas.add_node("toy.const", (0, 0))
    window.settings.sync()
    gone.unlink()
    again = _relaunch(qtbot, tmp_path, recover=False)
    assert [t.document.path for t in again.tabs.tabs] == [a]
    assert not again.document.dirty
    assert any("gone.json" in line for line in again.messages.texts())


def test_first_launch_opens_the_default_workflow(qtbot, tmp_path):
    again = _relaunch(qtbot, tmp_path)
    assert len(again.tabs.tabs) == 1 and again.document.path is None
    assert again.document.graph.nodes  # the template, not a blank tab
