"""The screenshot entry point renders the window after a run."""

from __future__ import annotations

from PySide6.QtGui import QImage

from app.engine.graph import Graph
from app.engine.workflow import save_workflow
from app.gui.screenshot import take_screenshot
from tests.gui.toy_studio import make_registry


def _toy_workflow(path, registry):
    graph = Graph()
    graph.add("toy.const", registry=registry, node_id="1")
    graph.add("toy.render", registry=registry, node_id="2", position=(250, 0))
    graph.add("toy.save", registry=registry, node_id="3", position=(500, 0))
    graph.connect("1", "out", "2", "x")
    graph.connect("2", "image", "3", "image")
    return save_workflow(graph, path)


def test_take_screenshot_runs_the_workflow_and_writes_a_png(qapp, tmp_path):
    registry = make_registry()
    workflow = _toy_workflow(tmp_path / "toy.json", registry)
    target = tmp_path / "shot" / "studio.png"
    assert take_screenshot(target, workflow, registry=registry, size=(1000, 700)) == 0
    image = QImage(str(target))
    assert (image.width(), image.height()) == (1000, 700)
    assert len({image.pixel(x, y) for x in range(0, 1000, 50) for y in range(0, 700, 50)}) > 5


def test_take_screenshot_reports_a_missing_workflow(qapp, tmp_path):
    assert take_screenshot(tmp_path / "x.png", tmp_path / "missing.json",
                           registry=make_registry()) == 2
