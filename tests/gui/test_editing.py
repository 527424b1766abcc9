"""Editing through the window: nodes, links, values, undo/redo, clipboard."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.engine.graph import Edge
from app.gui.theme import type_colour
from tests.gui.conftest import assert_canvas_matches, build_chain, drag_link


def test_node_list_adds_a_node_with_typed_ports(window, qtbot):
    tree = window.node_list.tree
    item = tree.findItems("Render", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)[0]
    tree.itemActivated.emit(item, 0)
    (node_id,) = window.document.graph.nodes
    assert window.document.graph.nodes[node_id].type == "toy.render"
    view = window.canvas.view_node(node_id)
    assert set(view.inputs()) == {"x", "prompt"}
    assert tuple(view.inputs()["prompt"].view.color[:3]) == type_colour("CONDITIONING")
    assert window.canvas.selected_ids() == [node_id]
    assert window.properties.node_id == node_id
    assert window.isWindowModified()


def test_links_from_the_canvas_reach_the_graph_one_per_input(window):
    ids = build_chain(window)
    other = window.canvas.add_node("toy.const", (0, 200))
    drag_link(window, other, "out", ids["render"], "x")
    incoming = window.document.graph.incoming(ids["render"])
    assert incoming["x"] == Edge(other, "out", ids["render"], "x")
    assert len([e for e in window.document.graph.edges if e.target == ids["render"]]) == 1
    assert window.canvas._view_links() == set(window.document.graph.edges)


def test_incompatible_link_is_refused_with_feedback(window):
    ids = build_chain(window)
    prompt = window.canvas.add_node("toy.text", (0, 200))
    edges_before = list(window.document.graph.edges)
    drag_link(window, prompt, "out", ids["render"], "x")  # CONDITIONING into LATENT
    assert window.document.graph.edges == edges_before
    assert window.canvas._view_links() == set(edges_before)
    assert any("CONDITIONING" in t and "refused" in t for t in window.messages.texts())
    assert "refused" in window.statusBar().currentMessage()


def test_property_edit_changes_the_graph_and_undo_restores_it(window):
    node_id = window.canvas.add_node("toy.render", (0, 0))
    window.canvas.select([node_id])
    editor = window.properties.editors["steps"]
    editor.field.setValue(37)
    assert window.document.graph.nodes[node_id].values["steps"] == 37
    window.actions["undo"].trigger()
    assert window.document.graph.nodes[node_id].values["steps"] == 4
    assert window.properties.editors["steps"].field.value() == 4
    window.actions["redo"].trigger()
    assert window.document.graph.nodes[node_id].values["steps"] == 37


def test_widgets_follow_the_declarations(window):
    node_id = window.canvas.add_node("toy.text", (0, 0))
    window.canvas.select([node_id])
    editors = window.properties.editors
    assert type(editors["text"].field).__name__ == "QPlainTextEdit"
    assert type(editors["loud"].field).__name__ == "QCheckBox"
    mood = editors["mood"].field
    assert [mood.itemText(i) for i in range(mood.count())] == ["calm", "wild"]
    mood.setCurrentText("wild")
    editors["loud"].field.setChecked(True)
    assert window.document.graph.nodes[node_id].values == {
        "text": "hello", "loud": True, "mood": "wild"}
    render = window.canvas.add_node("toy.render", (0, 0))
    window.canvas.select([render])
    steps = window.properties.editors["steps"].field
    assert (steps.minimum(), steps.maximum()) == (1, 500)


def test_undo_redo_covers_add_move_connect_disconnect_delete(window):
    doc = window.document
    states = [doc.graph.copy()]
    ids = build_chain(window)
    states.append(doc.graph.copy())
    doc.move_nodes({ids["const"]: (-100.0, 50.0)})
    window.canvas.sync()
    assert tuple(window.canvas.view_node(ids["const"]).view.xy_pos) == (-100.0, 50.0)
    states.append(doc.graph.copy())
    viewer = window.canvas.graph_view.viewer()
    in_port = window.canvas.view_node(ids["save"]).inputs()["image"].view
    viewer.connection_changed.emit([(in_port, in_port.connected_ports[0])], [])
    assert ids["save"] not in {e.target for e in doc.graph.edges}
    states.append(doc.graph.copy())
    window.canvas.select([ids["render"]])
    window.actions["delete"].trigger()
    assert ids["render"] not in doc.graph.nodes and window.canvas.view_node(ids["render"]) is None
    for expected in reversed(states[1:]):
        window.actions["undo"].trigger()
        assert doc.graph == expected
        assert_canvas_matches(window)
    while doc.undo():
        pass
    assert doc.graph == states[0] and not window.canvas._views
    while doc.redo():
        assert_canvas_matches(window)
    assert doc.graph.nodes.keys() == states[-1].nodes.keys() - {ids["render"]}
    assert_canvas_matches(window)


def test_copy_paste_and_duplicate_keep_internal_links(window):
    ids = build_chain(window)
    window.canvas.select([ids["const"], ids["render"]])
    window.actions["copy"].trigger()
    window.actions["paste"].trigger()
    graph = window.document.graph
    assert len(graph.nodes) == 5
    new = window.canvas.selected_ids()
    assert len(new) == 2 and not set(new) & set(ids.values())
    assert any(e.source in new and e.target in new for e in graph.edges)
    window.actions["duplicate"].trigger()
    assert len(graph.nodes) == 7
    window.actions["select_all"].trigger()
    assert len(window.canvas.selected_ids()) == 7
    window.actions["frame_all"].trigger()


def test_title_edit_in_properties_renames_the_node(window):
    node_id = window.canvas.add_node("toy.const", (0, 0))
    window.canvas.select([node_id])
    window.properties.title_edit.setText("Seed base")
    window.properties.title_edit.editingFinished.emit()
    assert window.document.graph.nodes[node_id].title == "Seed base"
    assert window.canvas.view_node(node_id).view.name == "Seed base"
