"""Widgets driven by links (a Seed feeding several nodes) and reroutes."""

from __future__ import annotations

import pytest

import nodes.utility
from app.engine.executor import Executor
from app.engine.graph import Graph
from app.engine.validation import validate
from tests.engine.toy_nodes import make_registry


@pytest.fixture()
def toy():
    registry, calls, sink = make_registry()
    registry.collect(nodes.utility)
    graph = Graph()
    graph.add("utility.int", registry=registry, values={"value": 4}, node_id="1")
    graph.add("toy.const", registry=registry, values={"value": 1}, node_id="2")
    graph.add("toy.const", registry=registry, values={"value": 1}, node_id="3")
    graph.add("toy.add", registry=registry, node_id="4")
    graph.add("toy.sink", registry=registry, node_id="5")
    graph.connect("1", "value", "2", "value")  # one Integer drives both constants
    graph.connect("1", "value", "3", "value")
    graph.connect("2", "out", "4", "a")
    graph.connect("3", "out", "4", "b")
    graph.connect("4", "out", "5", "x")
    return registry, calls, sink, graph


def test_a_linked_value_replaces_the_widget(toy):
    registry, calls, sink, graph = toy
    assert validate(graph, registry) == []
    assert Executor(registry).run(graph).status == "ok"
    assert sink["values"] == [8]


def test_changing_the_driving_value_reruns_and_the_hidden_widget_does_not(toy):
    registry, calls, sink, graph = toy
    executor = Executor(registry)
    executor.run(graph)
    assert calls["const"] == 1  # both constants have the same inputs: one result serves both
    graph.nodes["2"].values["value"] = 50  # hidden behind the link: changes nothing
    executor.run(graph)
    assert calls["const"] == 1
    graph.nodes["1"].values["value"] = 5
    executor.run(graph)
    assert calls["const"] == 2 and sink["values"] == [8, 8, 10]


def test_a_linked_value_out_of_range_fails_naming_the_field(toy):
    registry, calls, sink, graph = toy
    graph.nodes["1"].values["value"] = 500  # toy.const allows 0..100
    result = Executor(registry).run(graph)
    assert result.status == "failed"
    assert "value" in result.error and "100" in result.error


def test_a_value_linked_from_the_wrong_kind_is_a_validation_problem(toy):
    registry, calls, sink, graph = toy
    graph.add("utility.string", registry=registry, values={"value": "x"}, node_id="6")
    graph.connect("6", "value", "2", "value")
    problems = validate(graph, registry)
    assert [(p.node_id, p.field) for p in problems] == [("2", "value")]
    assert "INT value" in problems[0].message and "STRING" in problems[0].message


def test_reroutes_pass_links_through_and_types_are_checked_at_the_end(toy):
    registry, calls, sink, graph = toy
    graph.add("utility.reroute", registry=registry, node_id="7")
    graph.add("utility.reroute", registry=registry, node_id="8")
    graph.connect("4", "out", "7", "input")
    graph.connect("7", "output", "8", "input")
    graph.connect("8", "output", "5", "x")
    assert validate(graph, registry) == []
    result = Executor(registry).run(graph)
    assert result.status == "ok" and sink["values"] == [8]
    assert "7" not in result.executed
    graph.connect("8", "output", "4", "a")  # a cycle through the reroutes
    assert validate(graph, registry)
    graph.disconnect("4", "a")
    graph.add("toy.text", registry=registry, node_id="9")  # CONDITIONING into a LATENT input
    graph.connect("9", "out", "7", "input")
    problems = validate(graph, registry)
    assert any(p.node_id == "5" and "CONDITIONING" in p.message for p in problems)
