"""Subgraphs: collapse a selection into one node, run it, save it, nest and reuse it."""

from __future__ import annotations

import json

import pytest

from app.engine.executor import Executor
from app.engine.graph import BYPASS, Graph
from app.engine.subgraphs import collapse, expand
from app.engine.validation import validate
from app.engine.workflow import WorkflowError, save_workflow
from app.interop.open import open_workflow
from tests.engine.toy_nodes import make_chain


@pytest.fixture()
def toy():
    """const(2) + const(3) -> add(x10) -> steps -> sink."""
    return make_chain(scale=10.0)


def test_a_collapsed_selection_runs_as_before(toy):
    registry, calls, sink, graph = toy
    user = collapse(graph, ["3", "4"], "Add and step", registry)
    assert set(graph.nodes) == {"1", "2", "5", user}
    assert graph.nodes[user].type.startswith("subgraph:")
    assert validate(graph, registry) == []
    result = Executor(registry).run(graph)
    assert result.status == "ok" and sink["values"] == [50]
    assert f"{user}/3" in result.executed  # the inner nodes ran, under the outer id


def test_subgraphs_are_saved_inside_the_workflow_and_load_back(toy, tmp_path):
    registry, calls, sink, graph = toy
    collapse(graph, ["3", "4"], "Add and step", registry)
    path = save_workflow(graph, tmp_path / "w.json")
    assert "subgraphs" in json.loads(path.read_text())
    again = open_workflow(path, registry)
    assert again == graph
    Executor(registry).run(again)
    assert sink["values"] == [50]


def test_a_subgraph_used_twice_and_nested(toy):
    registry, calls, sink, graph = toy
    inner = collapse(graph, ["3"], "Add", registry)
    outer = collapse(graph, [inner, "4"], "Add then step", registry)
    assert len(graph.subgraphs) == 2
    graph.add(graph.nodes[outer].type, node_id="9", title="Again")
    graph.add("toy.sink", registry=registry, node_id="10")
    graph.connect("1", "out", "9", "a")
    graph.connect("9", "out", "10", "x")
    flat = expand(graph, graph.subgraphs)
    assert not any(n.type.startswith("subgraph:") for n in flat.nodes.values())
    assert Executor(registry).run(graph).status == "ok"
    assert sorted(sink["values"]) == [20, 50]


def test_a_problem_inside_a_subgraph_names_the_inner_node(toy):
    registry, calls, sink, graph = toy
    user = collapse(graph, ["3", "4"], "Add and step", registry)
    graph.subgraphs[graph.nodes[user].type.split(":", 1)[1]].graph.nodes["4"].values["steps"] = 0
    problems = validate(graph, registry)
    assert [(p.node_id, p.field) for p in problems] == [(f"{user}/4", "steps")]
    assert problems[0].title == "Add and step › Stepper"


def test_a_bypassed_subgraph_passes_its_input_through(toy):
    registry, calls, sink, graph = toy
    user = collapse(graph, ["4"], "Step", registry)
    graph.nodes[user].mode = BYPASS
    assert Executor(registry).run(graph).status == "ok"
    assert sink["values"] == [50] and calls["steps"] == 0


def test_a_subgraph_that_uses_itself_is_refused(toy):
    registry, calls, sink, graph = toy
    user = collapse(graph, ["4"], "Step", registry)
    definition = graph.subgraphs[graph.nodes[user].type.split(":", 1)[1]]
    definition.graph.add(graph.nodes[user].type, node_id="99")
    problems = validate(graph, registry)
    assert problems and "nested" in problems[0].message


def test_a_damaged_subgraph_definition_names_the_file(toy, tmp_path):
    registry, calls, sink, graph = toy
    collapse(graph, ["3", "4"], "Add and step", registry)
    path = save_workflow(graph, tmp_path / "w.json")
    raw = json.loads(path.read_text())
    next(iter(raw["subgraphs"].values()))["inputs"][0]["node"] = "404"
    path.write_text(json.dumps(raw))
    with pytest.raises(WorkflowError, match="w.json.*missing node #404"):
        open_workflow(path, registry)


def test_definitions_that_multiply_are_refused_before_they_exhaust_memory(toy):
    registry, calls, sink, graph = toy
    user = collapse(graph, ["4"], "Step", registry)
    previous = graph.nodes[user].type
    for level in range(16):  # each level uses the previous one twice: 2**16 steppers
        doubled = Graph()
        doubled.add(previous, node_id="a")
        doubled.add(previous, node_id="b")
        graph.subgraphs[f"level{level}"] = type(next(iter(graph.subgraphs.values())))(
            f"Level {level}", doubled)
        previous = f"subgraph:level{level}"
    graph.add(previous, node_id="top")
    problems = validate(graph, registry)
    assert problems and "more than" in problems[0].message
