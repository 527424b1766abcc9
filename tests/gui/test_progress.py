"""The status bar's progress follows the work (steps), not the count of nodes."""

from __future__ import annotations

from app.gui.progress import RunProgress, estimated_weight
from node_api.events import StepProgress
from tests.gui.conftest import RUN_MS, build_chain


def test_progress_tracks_the_sampling_steps(window, qtbot):
    build_chain(window, steps=20, delay=0.0)
    seen: list[tuple[float, float]] = []
    window.runner.event.connect(  # connected after the presenter: sees the bar it set
        lambda e: seen.append((e.step / e.total, window.progress.value() / 1000))
        if isinstance(e, StepProgress) else None)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert len(seen) == 20
    for steps_done, bar in seen:
        assert abs(bar - steps_done) < 0.1, seen
    assert window.progress.value() == 1000


def test_cancel_resets_the_bar(window, qtbot):
    build_chain(window, steps=400, delay=0.02)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: window.preview.frames >= 3, timeout=RUN_MS)
    assert window.progress.value() > 0
    window.actions["cancel"].trigger()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.progress.value() == 0
    assert window.run_status.text() == "cancelled"


def test_weights_cached_nodes_and_learned_seconds():
    assert estimated_weight("sampling", {"steps": 30}) == 30 * estimated_weight("x", {"steps": 1})
    assert estimated_weight("loaders", {}) > estimated_weight("latent", {"width": 64})
    work = RunProgress.for_run([("1", "loaders", {}), ("2", "sampling", {"steps": 10})], {})
    work.skip("1")  # from the cache: costs nothing
    work.step("2", 0.5)
    assert work.fraction == 0.5
    learned = RunProgress.for_run([("1", "loaders", {}), ("2", "sampling", {"steps": 10})],
                                  {"1": 9.0, "2": 1.0})
    learned.finish("1")
    assert learned.fraction > 0.85  # the last run said loading is most of the time


def test_learned_seconds_scale_with_the_steps():
    nodes = [("1", "loaders", {}), ("2", "sampling", {"steps": 40})]
    work = RunProgress.for_run(nodes, {"1": 4.0, "2": 4.0}, {"2": 10})  # 10 steps took 4 s
    work.finish("1")
    assert abs(work.fraction - 4.01 / (4.01 + 16.04)) < 1e-6
