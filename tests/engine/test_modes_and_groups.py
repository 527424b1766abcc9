"""Bypass and mute: engine semantics, saved in workflow files, honoured by every run."""

from __future__ import annotations

import pytest

from app.engine.executor import Executor
from app.engine.graph import BYPASS, MUTE
from app.engine.validation import ValidationError, validate
from app.engine.workflow import save_workflow
from app.interop.open import open_workflow
from tests.engine.toy_nodes import make_chain


@pytest.fixture()
def chain():
    """const(2) + const(3) -> add(x10) -> steps -> sink."""
    return make_chain(scale=10.0)


def test_a_bypassed_node_passes_its_first_matching_input_through(chain):
    registry, calls, sink, graph = chain
    graph.nodes["3"].mode = BYPASS
    result = Executor(registry).run(graph)
    assert result.status == "ok"
    assert sink["values"] == [2]  # input 'a' (const 2) reached the sink unchanged
    assert calls["add"] == 0 and "3" not in result.executed


def test_a_muted_node_and_what_needs_it_do_not_run(chain):
    registry, calls, sink, graph = chain
    graph.add("toy.const", registry=registry, values={"value": 7}, node_id="6")
    graph.add("toy.sink", registry=registry, node_id="7")
    graph.connect("6", "out", "7", "x")
    graph.nodes["3"].mode = MUTE
    result = Executor(registry).run(graph)
    assert result.status == "ok"
    assert sink["values"] == [7]  # only the independent branch ran
    assert calls["add"] == 0 and calls["steps"] == 0
    assert set(result.executed) == {"6", "7"}


def test_muting_an_optional_input_leaves_it_empty(chain):
    registry, calls, sink, graph = chain
    graph.nodes["2"].mode = MUTE  # feeds add's optional input 'b'
    result = Executor(registry).run(graph)
    assert result.status == "ok" and sink["values"] == [20]  # (2 + nothing) * 10


def test_muting_every_output_is_a_validation_problem(chain):
    registry, calls, sink, graph = chain
    graph.nodes["4"].mode = MUTE
    assert validate(graph, registry)
    with pytest.raises(ValidationError):
        Executor(registry).run(graph)
    assert calls["const"] == 0


def test_a_bypassed_node_without_a_matching_input_leaves_a_missing_input(chain):
    registry, calls, sink, graph = chain
    graph.add("toy.text", registry=registry, node_id="8")
    graph.nodes["1"].mode = BYPASS  # const has no input at all
    problems = validate(graph, registry)
    assert [(p.node_id, p.field) for p in problems] == [("3", "a")]


def test_modes_change_the_result_of_a_cached_rerun(chain):
    registry, calls, sink, graph = chain
    executor = Executor(registry)
    executor.run(graph)
    graph.nodes["3"].mode = BYPASS
    executor.run(graph)
    graph.nodes["3"].mode = "normal"
    executor.run(graph)
    assert sink["values"] == [50, 2, 50]


def test_modes_are_saved_and_loaded(chain, tmp_path):
    registry, calls, sink, graph = chain
    graph.nodes["3"].mode = BYPASS
    graph.nodes["2"].mode = MUTE
    path = save_workflow(graph, tmp_path / "w.json")
    again = open_workflow(path, registry)
    assert {i: n.mode for i, n in again.nodes.items()} == {
        "1": "normal", "2": "mute", "3": "bypass", "4": "normal", "5": "normal"}
    assert '"mode"' not in path.read_text().split('"id": "1"')[1].split('"id": "2"')[0]


def test_groups_are_saved_and_loaded(chain, tmp_path):
    from app.engine.graph import Group

    registry, calls, sink, graph = chain
    graph.groups.append(Group("Prompts", (10.0, 20.0, 300.0, 200.0), "#805050"))
    again = open_workflow(save_workflow(graph, tmp_path / "w.json"), registry)
    assert again.groups == graph.groups and again == graph
