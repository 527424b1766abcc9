"""Subgraphs in the window: collapse (one undo step), drawn with their ports, run with the
inner progress on the outer node, edited in place (double-click, back), expanded, saved."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.interop.open import open_workflow
from tests.gui.conftest import RUN_MS, assert_canvas_matches, build_chain


def _entry(menu, text):
    return next(a for a in menu.actions() if a.text() == text)


def _collapse(window, ids, name="Chain") -> str:
    window.canvas.select([ids["const"], ids["render"]])
    window.menus.ask_text = lambda title, text: name
    _entry(window.menus._node_menu(ids["render"]), "Collapse to Subgraph…").trigger()
    (made,) = window.canvas.selected_ids()
    return made


def test_collapse_draws_the_subgraph_node_with_its_ports_and_undoes_in_one_step(window):
    ids = build_chain(window)
    before = window.document.graph.copy()
    made = _collapse(window, ids)
    graph = window.document.graph
    assert set(graph.nodes) == {ids["save"], made}
    assert graph.nodes[made].type.startswith("subgraph:")
    view = window.canvas.view_node(made)
    assert list(view.outputs()) == ["image"] and list(view.inputs()) == []
    assert "missing" not in view.view.name
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert window.document.graph == before
    assert_canvas_matches(window)
    window.actions["redo"].trigger()
    assert_canvas_matches(window)


def test_a_subgraph_runs_and_its_inner_progress_shows_on_the_outer_node(window, qtbot):
    ids = build_chain(window, steps=3)
    made = _collapse(window, ids)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.runner.last_result.status == "ok"
    assert len(list(window.output_dir.glob("*.png"))) == 1
    assert window.canvas.state_of(made)[0] == "done"
    assert window.preview.frames == 3  # the inner Render's previews reached the window


def test_double_click_edits_the_inside_and_back_returns(window, qtbot):
    ids = build_chain(window)
    made = _collapse(window, ids)
    subgraph_id = window.document.graph.nodes[made].type.split(":", 1)[1]
    window.canvas.graph_view.center_on()
    qtbot.wait(20)
    viewer = window.canvas.graph_view.viewer()
    centre = window.canvas.view_node(made).view.sceneBoundingRect().center()
    qtbot.mouseDClick(viewer.viewport(), Qt.MouseButton.LeftButton,
                      pos=viewer.mapFromScene(centre))
    assert window.document.scope == [subgraph_id]
    assert set(window.document.graph.nodes) == {ids["const"], ids["render"]}
    assert window.subgraph_bar.isVisible()
    assert "Workflow › Chain" in window.subgraph_bar.label.text()
    assert_canvas_matches(window)
    window.document.set_value(ids["render"], "steps", 9)
    root = window.document.root
    assert root.subgraphs[subgraph_id].graph.nodes[ids["render"]].values["steps"] == 9
    assert window.document.dirty
    window.actions["undo"].trigger()  # undo inside: the definition goes back
    inner = window.document.root.subgraphs[subgraph_id].graph
    assert inner.nodes[ids["render"]].values["steps"] == 4
    assert window.document.scope == [subgraph_id]
    assert_canvas_matches(window)
    window.subgraph_bar.back.trigger()
    assert window.document.scope == [] and not window.subgraph_bar.isVisible()
    assert set(window.canvas._views) == {ids["save"], made}
    assert_canvas_matches(window)
    window.actions["undo"].trigger()  # undoing the collapse from the outside
    assert set(window.document.graph.nodes) == set(ids.values())
    assert_canvas_matches(window)


def test_expand_puts_the_nodes_back_and_files_keep_subgraphs(window, qtbot, tmp_path):
    ids = build_chain(window)
    made = _collapse(window, ids)
    path = tmp_path / "sub.json"
    assert window.files.save(path)
    assert open_workflow(path).subgraphs
    window.new_file()
    assert window.open_file(path)
    assert_canvas_matches(window)
    _entry(window.menus._node_menu(made), "Expand Subgraph").trigger()
    graph = window.document.graph
    assert made not in graph.nodes and not graph.subgraphs
    types = sorted(n.type for n in graph.nodes.values())
    assert types == ["toy.const", "toy.render", "toy.save"]
    assert len(graph.edges) == 2
    assert window.runner.check(graph) == []
    assert_canvas_matches(window)
    window.actions["undo"].trigger()
    assert made in window.document.graph.nodes
    assert_canvas_matches(window)


def _inner(window, type_id: str) -> str:
    return next(i for i, n in window.document.graph.nodes.items() if n.type == type_id)


def test_inside_a_subgraph_the_inner_nodes_show_the_run(window, qtbot):
    ids = build_chain(window, steps=12, delay=0.03)
    made = _collapse(window, ids)
    subgraph_id = window.document.graph.nodes[made].type.split(":", 1)[1]
    window.document.enter(subgraph_id)
    render = _inner(window, "toy.render")
    assert window.run_workflow()
    render = f"{made}/{render}"  # as the run names it
    qtbot.waitUntil(lambda: window.canvas.state_of(render)[1].startswith("step"), timeout=RUN_MS)
    assert window.canvas.state_of(render)[0] == "running"
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.canvas.state_of(render)[0] == "done"
    assert window.canvas.state_of(f"{made}/{_inner(window, 'toy.const')}")[0] == "done"
    window.document.leave()  # the outer view shows the subgraph node's state again
    assert window.canvas.state_of(made)[0] == "done"
    assert window.canvas.state_of(ids["save"])[0] == "done"
    window.document.enter(subgraph_id)  # and the inside keeps what it showed
    assert window.canvas.state_of(render)[0] == "done"
