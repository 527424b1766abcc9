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
from app.gui.main_window import MainWindow  # noqa: E402
from tests.gui.toy_studio import make_registry  # noqa: E402


@pytest.fixture()
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=make_registry(), settings=settings, data_dir=tmp_path / "data",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    win.ask_save = lambda: "discard"
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win.runner.running:
        win.runner.cancel()
        qtbot.waitUntil(lambda: not win.runner.running, timeout=5000)
    QApplication.clipboard().clear()


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
