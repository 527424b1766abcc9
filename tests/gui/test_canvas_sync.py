"""The canvas never lies: after open, drop, undo and redo it draws exactly the document."""

from __future__ import annotations

from app.engine.graph import Graph
from app.engine.workflow import save_workflow
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain, drag_link


def _other_graph(window) -> Graph:
    """Different node types at the same ids as build_chain's (1, 2, 3, ...)."""
    reg = window.registry
    graph = Graph()
    text = graph.add("toy.text", registry=reg, position=(0, 300), title="Words")
    const = graph.add("toy.const", registry=reg, position=(0, 0), values={"value": 7})
    render = graph.add("toy.render", registry=reg, position=(300, 0),
                       values={"steps": 2, "delay": 0.0})
    save = graph.add("toy.save", registry=reg, position=(600, 0), values={"prefix": "other"})
    graph.connect(const.id, "out", render.id, "x")
    graph.connect(text.id, "out", render.id, "prompt")
    graph.connect(render.id, "image", save.id, "image")
    return graph


def _run(window, qtbot) -> None:
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok"


def test_opening_a_png_over_a_saved_graph_redraws_everything(window, qtbot, tmp_path):
    # a PNG made by another workflow (its workflow is in the PNG)
    window.document.load(_other_graph(window), None)
    _run(window, qtbot)
    (png,) = (tmp_path / "out").glob("*.png")
    # a graph the user built, saved and reopened
    window.new_file()
    build_chain(window, steps=3)
    window.files.save(tmp_path / "mine.json")
    assert window.open_file(tmp_path / "mine.json")
    assert_canvas_matches(window)
    _run(window, qtbot)
    assert window.canvas.state_of("2")[0] == "done"
    assert window.open_file(png)
    assert window.document.graph == _other_graph(window)
    assert_canvas_matches(window)
    # nothing from the last run stays on the new graph's nodes
    for node_id in window.document.graph.nodes:
        assert window.canvas.state_of(node_id) == ("idle", "")
        assert window.canvas.view_node(node_id).view.preview_item is None
    assert window.preview.frames == 0 and window.progress.value() == 0
    # and back again: the reverse direction
    assert window.open_file(tmp_path / "mine.json")
    assert_canvas_matches(window)


def test_dropping_a_png_over_a_graph_redraws_everything(window, qtbot, tmp_path):
    window.document.load(_other_graph(window), None)
    _run(window, qtbot)
    (png,) = (tmp_path / "out").glob("*.png")
    window.new_file()
    build_chain(window)
    window.files.drop([png], (0.0, 0.0))
    assert window.document.graph == _other_graph(window)
    assert_canvas_matches(window)


def test_undo_and_redo_across_a_type_change_at_the_same_id(window, tmp_path):
    save_workflow(_other_graph(window), tmp_path / "other.json")
    ids = build_chain(window)
    window.document.remove_nodes(list(ids.values()))
    text = window.canvas.add_node("toy.text", (0, 0))
    assert text == "1"  # the id the Constant had
    assert_canvas_matches(window)
    for _ in range(3):
        window.actions["undo"].trigger()
        assert_canvas_matches(window)
    for _ in range(3):
        window.actions["redo"].trigger()
        assert_canvas_matches(window)
    other = window.canvas.add_node("toy.const", (0, 100))
    drag_link(window, other, "out", window.canvas.add_node("toy.render", (300, 100)), "x")
    assert_canvas_matches(window)


def test_the_check_sees_a_lying_canvas(window):
    ids = build_chain(window)
    window.document.graph.nodes[ids["const"]].values["value"] = 99  # behind the view's back
    assert any("values shown" in p for p in __import__(
        "app.gui.canvas_check", fromlist=["x"]).view_differences(window.canvas))


def test_real_nodes_user_graph_then_a_default_workflow_png_and_back(qtbot, tmp_path):
    """The issue's path with the real node set: build, save, reopen, open a PNG made by the
    default workflow (saved by Save Image's own code), then reopen the user's graph."""
    import torch
    from PySide6.QtCore import QSettings

    from app.engine.registry import default_registry
    from app.engine.workflow import to_document
    from app.gui.files import DEFAULT_WORKFLOW
    from app.gui.main_window import MainWindow
    from app.interop.open import open_workflow
    from nodes._images import save

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(registry=default_registry(), settings=settings, data_dir=tmp_path / "d",
                     output_dir=tmp_path / "out", device="cpu", probe_device=False)
    win.ask_save = lambda: "discard"
    qtbot.addWidget(win)
    default = open_workflow(DEFAULT_WORKFLOW, win.registry)
    (png,) = save(torch.zeros(1, 64, 64, 3), tmp_path / "made", "studio",
                  to_document(default))
    image = win.canvas.add_node("image.load", (0, 0))
    upscale = win.canvas.add_node("image.upscale", (300, 0))
    preview = win.canvas.add_node("image.preview", (600, 0))
    drag_link(win, image, "image", upscale, "image")
    drag_link(win, upscale, "image", preview, "image")
    assert win.files.save(tmp_path / "mine.json")
    assert win.open_file(tmp_path / "mine.json")
    assert_canvas_matches(win)
    win.files.drop([png], (0.0, 0.0))
    assert win.document.graph == default
    assert_canvas_matches(win)
    win.canvas.select(["6"])
    assert win.properties.node_id == "6"
    assert win.canvas.view_node("6").view.name == win.document.graph.nodes["6"].title
    assert win.open_file(tmp_path / "mine.json")
    assert_canvas_matches(win)
    assert win.open_file(png)
    assert_canvas_matches(win)
    win.close()


def test_a_run_going_when_another_workflow_opens_does_not_paint_its_nodes(window, qtbot,
                                                                          tmp_path):
    save_workflow(_other_graph(window), tmp_path / "other.json")
    build_chain(window, steps=30, delay=0.02)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: window.preview.frames >= 2, timeout=RUN_MS)
    assert window.files.open(tmp_path / "other.json")  # over it, in the same tab
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    for node_id in window.document.graph.nodes:
        assert window.canvas.state_of(node_id) == ("idle", "")
        assert window.canvas.view_node(node_id).view.preview_item is None
    assert window.preview.frames == 0 and window.progress.value() == 0
    assert "previous workflow" in window.run_status.text()


def test_a_workflow_opened_during_a_run_gets_its_own_tab_and_stays_unpainted(window, qtbot,
                                                                           tmp_path):
    save_workflow(_other_graph(window), tmp_path / "other.json")
    ids = build_chain(window, steps=30, delay=0.02)
    running = window.tab
    assert window.run_workflow()
    qtbot.waitUntil(lambda: window.preview.frames >= 2, timeout=RUN_MS)
    assert window.open_file(tmp_path / "other.json")
    assert window.tab is not running and len(window.tabs.tabs) == 2
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    for node_id in window.document.graph.nodes:  # the new tab: same ids, never painted
        assert window.canvas.state_of(node_id) == ("idle", "")
        assert window.canvas.view_node(node_id).view.preview_item is None
    assert running.canvas.state_of(ids["render"])[0] == "done"  # the run's own tab
    assert window.progress.value() == 1000
