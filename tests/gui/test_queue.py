"""The run queue and history: queue while running, batch seeds, re-order/remove, history
rebuilt from the output folder across restarts, and opening an image's workflow."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt

from app.gui.main_window import MainWindow
from app.interop.open import open_workflow
from tests.gui.conftest import RUN_MS, build_chain, drag_link
from tests.gui.toy_studio import make_registry


def _idle(window) -> bool:
    return not window.runner.running and not window.queue.pending()


def _saved_values(window, type_id: str, name: str) -> list:
    paths = sorted(window.output_dir.glob("*.png"))
    return [next(n.values[name] for n in open_workflow(p, window.registry).nodes.values()
                 if n.type == type_id) for p in paths]


def test_ctrl_enter_while_running_queues_a_snapshot(window, qtbot):
    ids = build_chain(window, steps=60, delay=0.01)
    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.runner.running
    window.document.set_value(ids["const"], "value", 7)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.document.set_value(ids["const"], "value", 9)  # after queueing: not in that run
    statuses = [e.status for e in window.queue.entries]
    assert statuses == ["running", "pending"]
    assert "pending" in window.queue_panel.texts()[1]
    qtbot.waitUntil(lambda: _idle(window), timeout=RUN_MS)
    assert [e.status for e in window.queue.entries] == ["done", "done"]
    assert _saved_values(window, "toy.const", "value") == [3, 7]
    assert "done" in window.queue_panel.texts()[1]


def test_batch_count_runs_with_seeds_counting_up(window, qtbot):
    seeded = window.canvas.add_node("toy.seeded", (0, 0))
    render = window.canvas.add_node("toy.render", (250, 0))
    save = window.canvas.add_node("toy.save", (500, 0))
    drag_link(window, seeded, "out", render, "x")
    drag_link(window, render, "image", save, "image")
    window.document.set_value(seeded, "seed", 41)
    window.queue_panel.batch.setValue(3)
    assert window.run_workflow()
    assert [e.label.endswith(f"seed {s}") for e, s in zip(window.queue.entries, (41, 42, 43),
                                                          strict=True)] == [True] * 3
    qtbot.waitUntil(lambda: _idle(window), timeout=RUN_MS)
    assert _saved_values(window, "toy.seeded", "seed") == [41, 42, 43]
    assert window.document.graph.nodes[seeded].values["seed"] == 41  # the document unchanged


def test_waiting_runs_can_be_reordered_removed_and_cleared(window, qtbot):
    ids = build_chain(window, steps=300, delay=0.01)
    assert window.run_workflow()
    for value in (1, 2, 3, 4):
        window.document.set_value(ids["const"], "value", value)
        window.run_workflow()
    numbers = [e.number for e in window.queue.entries]
    panel = window.queue_panel
    panel.select(numbers[4])
    panel._move(-1)
    panel._move(-1)  # value 4 now runs before values 2 and 3
    panel.select(numbers[2])
    panel._cancel()  # value 2 removed
    assert [e.graph.nodes[ids["const"]].values["value"] for e in window.queue.pending()] \
        == [1, 4, 3]
    panel.select(numbers[0])
    panel._cancel()  # the running one: cancelled, the queue goes on
    qtbot.waitUntil(lambda: window.queue.entries[0].status == "cancelled", timeout=RUN_MS)
    window.queue.clear_pending()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert [e.status for e in window.queue.entries][0] == "cancelled"
    assert len([e for e in window.queue.entries if e.status == "done"]) <= 1


def test_history_survives_a_restart_and_opens_an_images_workflow(window, qtbot, tmp_path):
    ids = build_chain(window, steps=2)
    window.document.set_value(ids["const"], "value", 5)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: _idle(window), timeout=RUN_MS)
    (png,) = window.output_dir.glob("*.png")
    assert window.queue_panel.history_paths() == [png]
    ran = window.document.graph.copy()
    settings = QSettings(str(tmp_path / "s2.ini"), QSettings.Format.IniFormat)
    again = MainWindow(registry=make_registry(), settings=settings, data_dir=tmp_path / "d2",
                       output_dir=window.output_dir, device="cpu", probe_device=False)
    qtbot.addWidget(again)
    assert again.queue_panel.history_paths() == [png]
    (Path(window.output_dir) / "plain.png").write_bytes(png.read_bytes()[:8])  # not a PNG
    again.queue_panel.refresh_history()
    assert again.queue_panel.history_paths() == [png]
    again.queue_panel.history.setCurrentRow(0)
    again.queue_panel.open_button.click()
    assert again.document.graph.nodes[ids["const"]].values["value"] == 5
    assert set(again.document.graph.nodes) == set(ran.nodes)
    assert again.document.path is None  # an image is never overwritten by Save


def test_save_and_load_image_nodes_show_thumbnails(window, qtbot):
    ids = build_chain(window, steps=2)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: _idle(window), timeout=RUN_MS)
    thumb = window.canvas.view_node(ids["save"]).view.preview_item
    assert thumb is not None and thumb.isVisible() and not thumb.pixmap().isNull()
    (png,) = window.output_dir.glob("*.png")
    load = window.canvas.add_node("image.load", (0, 400))
    assert window.canvas.view_node(load).view.preview_item is None
    window.document.set_value(load, "path", str(png))
    thumb = window.canvas.view_node(load).view.preview_item
    assert thumb is not None and thumb.isVisible()
    window.document.set_value(load, "path", str(png.with_name("gone.png")))
    assert not thumb.isVisible()
