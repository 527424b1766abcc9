"""Running from the window: validation, progress, previews, results, failures, cancel."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

from tests.gui.conftest import RUN_MS, build_chain, drag_link


def _run_and_wait(window, qtbot, timeout: int = RUN_MS):
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=timeout)
    return window.runner.last_result


def test_run_shows_previews_states_timings_and_the_image(window, qtbot):
    ids = build_chain(window, steps=5)
    result = _run_and_wait(window, qtbot)
    assert result.status == "ok"
    assert window.preview.frames == 5
    assert "step 5/5" in window.preview.caption.text()
    assert window.gallery.count() == 1
    assert window.gallery.current_path().endswith(".png")
    assert not window.gallery.viewer.pixmap().isNull()
    state, text = window.canvas.state_of(ids["render"])
    assert state == "done" and text.endswith(" s")
    assert window.progress.value() == 1000
    assert any(t.startswith("done in") for t in window.messages.texts())
    second = _run_and_wait(window, qtbot)  # nothing changed: upstream comes from the cache
    assert ids["render"] in second.cached
    assert window.canvas.state_of(ids["const"])[0] == "cached"


def test_preview_node_puts_the_image_in_the_gallery(window, qtbot):
    ids = build_chain(window)
    show = window.canvas.add_node("toy.show", (500, 200))
    drag_link(window, ids["render"], "image", show, "image")
    assert _run_and_wait(window, qtbot).status == "ok"
    assert window.gallery.count() == 2


def test_invalid_graph_is_not_run_and_problems_are_shown(window, qtbot):
    render = window.canvas.add_node("toy.render", (0, 0))
    window.canvas.add_node("toy.save", (300, 0))
    assert not window.run_workflow()
    assert not window.runner.running
    assert window.canvas.state_of(render)[0] == "invalid"
    assert any("needs a LATENT input linked" in t for t in window.messages.texts())


def test_node_failure_is_reported_and_the_app_stays_usable(window, qtbot):
    ids = build_chain(window)
    fail = window.canvas.add_node("toy.fail", (250, 200))
    drag_link(window, ids["const"], "out", fail, "x")
    drag_link(window, fail, "out", ids["render"], "x")
    result = _run_and_wait(window, qtbot)
    assert result.status == "failed"
    assert window.canvas.state_of(fail)[0] == "failed"
    assert any("the toy node broke" in t for t in window.messages.texts())
    drag_link(window, ids["const"], "out", ids["render"], "x")  # fix it and run again
    assert _run_and_wait(window, qtbot).status == "ok"


def test_cancel_stops_within_a_step(window, qtbot):
    ids = build_chain(window, steps=400, delay=0.02)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: window.preview.frames >= 2, timeout=RUN_MS)
    started = time.monotonic()
    window.actions["cancel"].trigger()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert time.monotonic() - started < 1.0
    assert window.runner.last_result.status == "cancelled"
    assert window.canvas.state_of(ids["render"])[0] == "cancelled"
    assert window.actions["run"].isEnabled()


def test_event_loop_is_never_blocked_during_a_run(window, qtbot):
    """While a run streams previews, the GUI thread keeps turning: between two turns of its
    event loop it spends < 100 ms of its own CPU time (thread time, so a machine busy with
    other work, which stretches wall-clock gaps, does not count against it)."""
    build_chain(window, steps=60, delay=0.01)
    gaps: list[float] = []
    last = [time.thread_time()]

    def tick() -> None:
        now = time.thread_time()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    timer.stop()
    assert window.preview.frames == 60
    assert len(gaps) > 5
    assert max(gaps[1:]) < 0.1, f"the GUI thread worked {max(gaps[1:]):.3f} s between turns"


def test_the_sampler_node_shows_the_live_preview_on_the_canvas(window, qtbot):
    ids = build_chain(window, steps=5)
    item = window.canvas.view_node(ids["render"]).view
    undo_label = window.document.history.undo_label
    theirs = window.canvas.graph_view.undo_stack().count()
    assert item.preview_item is None  # nothing drawn before the first step
    seen: list[int] = []

    def sample(event) -> None:  # connected after the presenter, so the item is up to date
        if type(event).__name__ == "StepProgress":
            seen.append(item.preview_item.pixmap().toImage().pixel(2, 2))

    window.runner.event.connect(sample)
    assert _run_and_wait(window, qtbot).status == "ok"
    pixmap = item.preview_item.pixmap()
    assert not pixmap.isNull() and item.preview_item.isVisible()
    assert len(seen) == 5 and len(set(seen)) == 5  # a new frame every step
    assert pixmap.width() > 16  # scaled up from the 16x16 frame, below the node
    assert item.preview_item.pos().y() >= item.boundingRect().bottom()
    assert window.document.history.undo_label == undo_label  # previews are not edits
    assert window.canvas.graph_view.undo_stack().count() == theirs


def test_a_run_started_during_the_warm_up_waits_for_it(window, qtbot):
    import threading

    build_chain(window, steps=2)
    window.runner.warm = threading.Event()  # the background import is still going
    assert window.run_workflow()
    qtbot.wait(150)
    assert window.runner.running and window.preview.frames == 0
    window.runner.warm.set()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok" and window.preview.frames == 2


def test_precision_and_gpu_memory_choices_reach_the_run_and_are_remembered(window, qtbot,
                                                                          tmp_path):
    from app.gui.main_window import MainWindow
    from tests.gui.toy_studio import LAST_OPTIONS, make_registry

    build_chain(window, steps=1)
    assert _run_and_wait(window, qtbot).status == "ok"
    assert LAST_OPTIONS == {"precision": "auto", "vram_mode": "auto"}
    window.run_settings.actions["precision"]["bf16"].trigger()
    window.run_settings.actions["vram_mode"]["low"].trigger()
    assert not window.run_settings.actions["precision"]["auto"].isChecked()
    result = _run_and_wait(window, qtbot)
    assert result.status == "ok" and result.cached == ()  # other settings: nothing reused
    assert LAST_OPTIONS == {"precision": "bf16", "vram_mode": "low"}
    again = MainWindow(registry=make_registry(), settings=window.settings,
                       data_dir=tmp_path / "data", output_dir=tmp_path / "out", device="cpu",
                       probe_device=False)
    qtbot.addWidget(again)
    remembered = again.run_settings.options()
    assert {k: remembered[k] for k in ("precision", "vram_mode")} == {"precision": "bf16",
                                                                       "vram_mode": "low"}
    assert remembered["accelerate"] is None  # "auto": the workflow's own setting
    assert remembered["threads"] >= 1
