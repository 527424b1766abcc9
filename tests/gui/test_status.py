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


def test_with_acceleration_the_first_step_line_says_it_compiles(window):
    from node_api.events import NodeStarted
    from tests.gui.conftest import build_chain

    ids = build_chain(window)
    presenter = window.presenter
    presenter.begin(window.document.root, compiling=True)
    presenter._on_NodeStarted(NodeStarted(0, ids["render"], "Render", "toy.render"))
    assert "compiling the model for this size" in window.run_status.text()
    presenter.begin(window.document.root)
    presenter._on_NodeStarted(NodeStarted(0, ids["render"], "Render", "toy.render"))
    assert window.run_status.text() == "Render: preparing the first step…"
