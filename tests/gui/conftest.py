"""Fixtures: a real studio window over the toy registry, with settings in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("NodeGraphQt")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.engine.graph import Edge  # noqa: E402
from app.engine.registry import Registry  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from tests.gui.toy_studio import make_registry  # noqa: E402

# Waits in these tests are conditions: they return as soon as the condition holds, so this
# bound only ends a hang. It is generous because a loaded machine (many test runs sharing two
# cores) can take seconds for what takes milliseconds alone.
RUN_MS = 180_000


@pytest.fixture(scope="session", autouse=True)
def _warm_run_imports() -> None:
    """A run imports torch on the worker thread (its thread settings), ~8 s on a loaded
    machine: once per test session here, so no test's wait pays for it."""
    import torch  # noqa: F401


def wait_run(qtbot, win: MainWindow) -> None:
    """Until the window's run (and its queue) is done."""
    qtbot.waitUntil(lambda: not win.runner.running and not win.queue.pending(), timeout=RUN_MS)


def open_window(qtbot, tmp_path: Path, registry: Registry) -> MainWindow:
    """A shown studio window over ``registry``, settings and folders in ``tmp_path``."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=registry, settings=settings, data_dir=tmp_path / "data",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    win.ask_save = lambda: "discard"
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def close_window(qtbot, win: MainWindow) -> None:
    if win.runner.running:
        win.runner.cancel()
        qtbot.waitUntil(lambda: not win.runner.running, timeout=RUN_MS)
    QApplication.clipboard().clear()


@pytest.fixture()
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:
    """The studio over the toy registry (tests/gui/toy_studio.py)."""
    win = open_window(qtbot, tmp_path, make_registry())
    yield win
    close_window(qtbot, win)


def drag_link(win: MainWindow, source: str, output: str, target: str, input: str) -> None:
    """What the viewer emits when the user drags a pipe from an output to an input."""
    out_port = win.canvas.view_node(source).outputs()[output].view
    in_port = win.canvas.view_node(target).inputs()[input].view
    disconnected = [(in_port, p) for p in in_port.connected_ports]
    win.canvas.graph_view.viewer().connection_changed.emit(disconnected, [(out_port, in_port)])


def build_chain(win: MainWindow, steps: int = 4, delay: float = 0.01) -> dict[str, str]:
    """Constant -> Render -> Save, made through the canvas like a user would."""
    ids = {
        "const": win.canvas.add_node("toy.const", (0, 0)),
        "render": win.canvas.add_node("toy.render", (250, 0)),
        "save": win.canvas.add_node("toy.save", (500, 0)),
    }
    drag_link(win, ids["const"], "out", ids["render"], "x")
    drag_link(win, ids["render"], "image", ids["save"], "image")
    win.document.set_value(ids["render"], "steps", steps)
    win.document.set_value(ids["render"], "delay", delay)
    assert Edge(ids["const"], "out", ids["render"], "x") in win.document.graph.edges
    return ids


def assert_canvas_matches(win: MainWindow) -> None:
    """The canvas draws exactly the document: every node, port, value and link."""
    from app.gui.canvas_check import view_differences

    assert view_differences(win.canvas) == []
