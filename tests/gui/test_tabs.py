"""Workflows in tabs: each its own document, undo, autosave and run state; closing a modified
tab asks; opening and dropping pick the right tab; the queue runs across tabs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt

from app.engine.workflow import save_workflow
from app.gui.main_window import MainWindow
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain
from tests.gui.toy_studio import make_registry


def _png_with_workflow(window, qtbot) -> Path:
    build_chain(window, steps=2, delay=0.0)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    return next((window.output_dir).glob("*.png"))


def _focus_canvas(window, qtbot):
    viewer = window.canvas.graph_view.viewer()
    viewer.setFocus()
    qtbot.waitUntil(viewer.hasFocus, timeout=2000)
    return viewer


def test_keys_make_tabs_and_work_on_the_tab_in_front(window, qtbot):
    first = window.tab
    qtbot.keyClick(_focus_canvas(window, qtbot), Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert len(window.tabs.tabs) == 2 and window.tab is not first
    assert window.tabs.widget.tabText(1) == "Untitled"
    node_id = window.canvas.add_node("toy.const", (0, 0))
    viewer = _focus_canvas(window, qtbot)
    qtbot.keyClick(viewer, Qt.Key.Key_Delete)  # a canvas-only key, on the new tab's canvas
    assert node_id not in window.document.graph.nodes
    qtbot.keyClick(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert node_id in window.document.graph.nodes and not first.document.graph.nodes
    assert_canvas_matches(window)
    qtbot.keyClick(viewer, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)  # asks: discard
    assert window.tabs.tabs == [first] and window.tab is first


def test_each_tab_has_its_own_document_undo_and_title(window, tmp_path):
    ids = build_chain(window)
    window.files.save(tmp_path / "a.json")
    a = window.tab
    window.new_file()
    b = window.tab
    assert b is not a and not b.document.graph.nodes
    window.canvas.add_node("toy.const", (0, 0))
    assert window.windowTitle().startswith("Untitled") and window.isWindowModified()
    assert window.tabs.widget.tabText(window.tabs.index_of(b)) == "Untitled *"
    window.actions["undo"].trigger()  # undoes b's edit, not a's
    assert not b.document.graph.nodes and len(a.document.graph.nodes) == len(ids)
    window.tabs.activate(a)
    assert window.windowTitle().startswith("a.json") and not window.isWindowModified()
    window.actions["undo"].trigger()  # now a's history
    assert a.document.dirty and len(a.document.graph.nodes) == len(ids)
    assert_canvas_matches(window)


def test_closing_a_modified_tab_asks_and_cancel_keeps_it(window):
    build_chain(window)
    modified = window.tab
    window.new_file()
    asked = []
    window.ask_save = lambda: asked.append(window.tab) or "cancel"
    assert not window.close_tab(window.tabs.index_of(modified))
    assert asked == [modified] and modified in window.tabs.tabs  # shown in front to ask
    window.ask_save = lambda: "discard"
    assert window.close_tab(window.tabs.index_of(modified))
    assert modified not in window.tabs.tabs and len(window.tabs.tabs) == 1


def test_closing_the_window_asks_for_each_modified_tab(window):
    build_chain(window)
    window.new_file()
    build_chain(window)
    asked = []
    window.ask_save = lambda: asked.append(window.tab) or "discard"
    assert window.close()
    assert len(asked) == 2


def test_open_reuses_an_untouched_tab_focuses_an_open_file_else_adds_a_tab(window, tmp_path):
    build_chain(window)
    path = tmp_path / "a.json"
    save_workflow(window.document.root, path)
    window.close_tab()  # the modified chain: discarded, an empty tab is left
    empty = window.tab
    assert window.open_file(path)
    assert window.tab is empty and window.document.path == path  # untitled, unchanged: reused
    window.new_file()
    assert len(window.tabs.tabs) == 2
    assert window.open_file(path)  # already open: that tab comes to the front
    assert window.tab is empty and len(window.tabs.tabs) == 2
    window.document.set_value("1", "value", 9)
    other = tmp_path / "b.json"
    save_workflow(window.document.root, other)
    assert window.open_file(other)  # the current tab is modified: a new one
    assert len(window.tabs.tabs) == 3 and window.document.path == other
    assert not window.open_file(tmp_path / "missing.json")  # fails: no tab is left behind
    assert len(window.tabs.tabs) == 3 and window.document.path == other


def test_dropping_a_png_on_a_modified_tab_opens_it_in_a_new_tab(window, qtbot, tmp_path):
    png = _png_with_workflow(window, qtbot)
    modified = window.tab
    before = modified.document.root.copy()
    window.canvas.files_dropped.emit([png], (0.0, 0.0))  # what the canvas emits on a drop
    assert window.tab is not modified and len(window.tabs.tabs) == 2
    assert modified.document.root == before  # nothing of the user's was replaced
    assert window.document.path is None and window.document.graph.nodes
    assert_canvas_matches(window)
    plain = tmp_path / "plain.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(plain)
    window.canvas.files_dropped.emit([plain], (5.0, 5.0))  # a plain image: Load Image here
    assert len(window.tabs.tabs) == 2


def test_the_queue_runs_each_tabs_snapshot_on_its_own_canvas(window, qtbot):
    a_ids = build_chain(window, steps=6, delay=0.02)
    a = window.tab
    assert window.run_workflow()
    window.new_file()
    b_ids = build_chain(window, steps=2, delay=0.0)
    b = window.tab
    assert window.run_workflow()  # queued behind a's run
    assert [e.owner for e in window.queue.entries] == [a, b]
    qtbot.waitUntil(lambda: all(e.status == "done" for e in window.queue.entries),
                    timeout=RUN_MS)
    assert a.canvas.state_of(a_ids["render"])[0] == "done"
    assert b.canvas.state_of(b_ids["render"])[0] == "done"
    assert len(list(window.output_dir.glob("*.png"))) == 2


def test_closing_a_tab_drops_its_queued_runs(window, qtbot):
    build_chain(window, steps=40, delay=0.02)
    assert window.run_workflow()
    window.new_file()
    build_chain(window, steps=2, delay=0.0)
    assert window.run_workflow()
    assert window.close_tab()  # b, with a waiting run
    assert [e.owner for e in window.queue.entries] == [window.tabs.tabs[0]]
    assert window.close_tab()  # a, whose run is going: it is cancelled
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "cancelled"
    assert len(window.tabs.tabs) == 1 and not window.document.graph.nodes


def test_every_modified_tab_is_autosaved_and_recovered_in_its_own_tab(window, qtbot, tmp_path):
    build_chain(window)
    window.new_file()
    window.canvas.add_node("toy.text", (0, 0))
    graphs = [t.document.root.copy() for t in window.tabs.tabs]
    paths = [t.files.autosave() for t in window.tabs.tabs]
    assert len({p.name for p in paths}) == 2
    settings = QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat)
    again = MainWindow(registry=make_registry(), settings=settings, data_dir=tmp_path / "data",
                       device="cpu", probe_device=False)
    qtbot.addWidget(again)
    assert again.tabs.recover() == 2
    assert [t.document.root for t in again.tabs.tabs] == graphs
    assert all(t.document.dirty for t in again.tabs.tabs)
    again.ask_save = lambda: "discard"
    again.close()
