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
