"""The status bar: device and memory in use, refreshed on a timer without importing torch."""

from __future__ import annotations

import re
import sys

import pytest

from app.gui.device import memory_text

RAM = re.compile(r"RAM (\d+\.\d+) / (\d+\.\d+) GiB")


def test_status_bar_shows_the_device_and_memory(window):
    text = window.status.device_label.text()
    assert text.startswith("device: cpu · ")
    used, total = (float(x) for x in RAM.search(text).groups())
    assert 0 < used < total
    assert 1000 <= window.status.timer.interval() <= 10_000 and window.status.timer.isActive()
    window.status.device_found.emit("CPU (4 threads)", "cpu")  # what the probe thread sends
    assert window.status.device_label.text().startswith("CPU (4 threads) · RAM ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_memory_without_psutil_reads_proc(monkeypatch):
    with_psutil = RAM.search(memory_text("cpu"))
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    from_proc = RAM.search(memory_text("cpu"))
    assert from_proc is not None and from_proc.group(2) == with_psutil.group(2)
    assert float(from_proc.group(1)) > 0


def test_a_cold_start_says_what_is_loading_and_that_the_run_waits(window, qtbot):
    """The warm-up's phases show beside the progress bar; a run started meanwhile says it
    waits, begins when the warm-up is done, and the line goes."""
    import threading

    from tests.gui.conftest import RUN_MS, build_chain

    status = window.status
    assert status.startup.isHidden()
    warm = threading.Event()  # the warm-up, still importing
    status.warm_done = window.runner.warm = warm
    status.loading.emit("loading torch…")
    assert status.startup.isVisible() and status.startup.text() == "loading torch…"
    build_chain(window, steps=2, delay=0.0)
    assert window.run_workflow()
    assert window.runner.running
    assert "the run starts when this is done" in status.startup.text()
    assert window.runner.last_result is None  # still waiting for the warm-up
    warm.set()
    status.loading.emit("")
    status.warmed.emit()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok" and status.startup.isHidden()


def test_the_run_line_names_model_loading_the_first_step_and_steps(window, qtbot):
    from tests.gui.conftest import RUN_MS, build_chain

    ids = build_chain(window, steps=3, delay=0.05)
    shown: list[str] = []
    label = window.run_status
    original = label.setText
    label.setText = lambda text: (shown.append(text), original(text))  # type: ignore[method-assign]
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    render = window.document.graph.nodes[ids["render"]].title
    assert f"{render}: preparing the first step…" in shown
    assert f"{render}: step 1/3" in shown and f"{render}: step 3/3" in shown
    assert shown.index(f"{render}: preparing the first step…") < shown.index(f"{render}: step 1/3")
    assert shown[-1].startswith("done in")


def test_warm_up_reports_its_phases_in_order():
    from app.gui import device

    heard: list[str] = []
    device._import_all(__import__("importlib"), [], heard.append)
    assert heard == [device.LOADING_TORCH, device.LOADING_LIBRARIES]


def test_the_first_step_line_says_compiling_only_when_the_run_compiles(qtbot, tmp_path,
                                                                      monkeypatch):
    """Acceleration on (torch.compile stubbed): the first run at a size says it compiles (the
    sampler's notice); a second run at the same size compiles nothing and says nothing of it."""
    from app.engine.registry import default_registry
    from pipelines.speed import accelerate
    from pipelines.testing.no_inductor import no_inductor
    from pipelines.testing.tiny import build_tiny_sd
    from tests.gui.conftest import close_window, open_window, wait_run
    from tests.nodes.conftest import txt2img_graph

    monkeypatch.setattr(accelerate, "cache_folder", lambda: tmp_path / "cache")
    checkpoint = build_tiny_sd(tmp_path / "tiny-sd")
    studio = open_window(qtbot, tmp_path, default_registry())
    shown: list[str] = []
    label = studio.run_status
    original = label.setText
    label.setText = lambda text: (shown.append(text), original(text))  # type: ignore[method-assign]

    def run() -> list[str]:
        shown.clear()
        assert studio.run_workflow()
        wait_run(qtbot, studio)
        assert studio.runner.last_result.status == "ok", studio.runner.last_result.error
        return [text for text in shown if "compiling" in text]

    try:
        with no_inductor():
            studio.document.load(txt2img_graph(default_registry(), checkpoint, steps=2), None)
            studio.run_settings.actions["accelerate"]["compile"].trigger()
            sampler = next(n for n, node in studio.document.root.nodes.items()
                           if "steps" in node.values)
            first = run()
            assert len(first) == 1 and "compiling the model for this size" in first[0]
            assert shown.index(first[0]) < next(i for i, t in enumerate(shown) if "step 1/2" in t)
            studio.document.set_value(sampler, "cfg", 6.0)  # the sampler runs again, same size
            assert run() == []
            assert any(t.endswith(": preparing the first step…") for t in shown)
    finally:
        close_window(qtbot, studio)
