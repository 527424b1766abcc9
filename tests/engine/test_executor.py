from __future__ import annotations

import gc

import pytest

from app.engine.executor import Executor
from app.engine.graph import Graph
from app.engine.validation import ValidationError
from node_api.context import CancelToken
from node_api.events import (
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    RunCancelled,
    RunFinished,
    RunStarted,
    StepProgress,
)
from tests.engine.toy_nodes import make_registry


@pytest.fixture()
def toy():
    registry, calls, sink = make_registry()
    graph = Graph()
    graph.add("toy.const", registry=registry, values={"value": 2}, node_id="1")
    graph.add("toy.const", registry=registry, values={"value": 3}, node_id="2")
    graph.add("toy.add", registry=registry, node_id="3")
    graph.add("toy.steps", registry=registry, node_id="4")
    graph.add("toy.sink", registry=registry, node_id="5")
    graph.connect("1", "out", "3", "a")
    graph.connect("2", "out", "3", "b")
    graph.connect("3", "out", "4", "x")
    graph.connect("4", "out", "5", "x")
    return registry, calls, sink, graph


def test_runs_in_topological_order_and_produces_the_result(toy):
    registry, calls, sink, graph = toy
    events = []
    result = Executor(registry).run(graph, listeners=[events.append])
    assert result.status == "ok"
    assert sink["values"] == [5]
    started = [e.node_id for e in events if isinstance(e, NodeStarted)]
    assert started.index("3") > started.index("1") and started.index("3") > started.index("2")
    assert started.index("4") > started.index("3") and started[-1] == "5"
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    steps = [(e.step, e.total) for e in events if isinstance(e, StepProgress)]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert set(result.timings) == {"1", "2", "3", "4", "5"}


def test_runs_only_ancestors_of_requested_targets(toy):
    registry, calls, sink, graph = toy
    graph.add("toy.const", registry=registry, values={"value": 9}, node_id="6")
    result = Executor(registry).run(graph, targets=["3"])
    assert set(result.executed) == {"1", "2", "3"}
    assert result.outputs["3"][0].value == 5
    assert "sink" not in calls


def test_second_run_reuses_cache_and_a_changed_value_reruns_only_downstream(toy):
    registry, calls, sink, graph = toy
    executor = Executor(registry)
    executor.run(graph)
    second = executor.run(graph)
    assert set(second.cached) == {"1", "2", "3", "4"}
    assert second.executed == ("5",)  # output nodes always run
    graph.nodes["2"].values["value"] = 10
    events = []
    third = executor.run(graph, listeners=[events.append])
    assert set(third.executed) == {"2", "3", "4", "5"}
    assert [e.node_id for e in events if isinstance(e, NodeCached)] == ["1"]
    assert sink["values"][-1] == 12
    assert calls["const"] == 3


def test_a_different_device_or_precision_reruns_everything(toy):
    from node_api.context import RunOptions

    registry, calls, sink, graph = toy
    executor = Executor(registry)
    executor.run(graph, options=RunOptions(device="cpu", precision="fp32"))
    same = executor.run(graph, options=RunOptions(device="cpu", precision="fp32"))
    assert set(same.cached) == {"1", "2", "3", "4"}
    for options in (RunOptions(device="cpu", precision="bf16"),
                    RunOptions(device="cuda", precision="bf16"),
                    RunOptions(device="cuda", precision="bf16", vram_mode="low")):
        changed = executor.run(graph, options=options)
        assert changed.cached == () and set(changed.executed) == {"1", "2", "3", "4", "5"}


def test_networks_are_kept_only_while_the_latest_run_uses_them(toy):
    """Model-like results are not pinned by the cache once a run stops using them (the model
    cache and its budget own them), while ordinary results of earlier runs stay cached."""
    registry, calls, sink, graph = toy
    graph.add("toy.network", registry=registry, values={"name": "model-a"}, node_id="n")
    graph.add("toy.use", registry=registry, node_id="u")
    graph.connect("n", "model", "u", "model")
    graph.connect("3", "out", "u", "x")
    graph.connect("u", "out", "5", "x")
    executor = Executor(registry)
    executor.run(graph)
    again = executor.run(graph)
    assert "n" in again.cached and calls["network"] == 1  # in use: still cached
    graph.nodes["n"].values["name"] = "model-bb"
    executor.run(graph)
    assert sink["alive_at_load"] == {"model-a": False}  # let go before the new one loaded
    assert sink["networks"]["model-bb"]() is not None
    graph.nodes["n"].values["name"] = "model-a"
    back = executor.run(graph)
    assert "n" in back.executed and calls["network"] == 3  # reloaded (a model-cache hit)
    assert "u" in back.cached  # results computed from it are still cached


def test_force_reruns_everything(toy):
    registry, calls, sink, graph = toy
    executor = Executor(registry)
    executor.run(graph)
    forced = executor.run(graph, force=True)
    assert set(forced.executed) == {"1", "2", "3", "4", "5"}


def test_intermediate_result_is_freed_after_its_last_consumer(toy):
    registry, calls, sink, graph = toy
    graph.add("toy.volatile", registry=registry, node_id="7")
    graph.add("toy.add", registry=registry, node_id="8")
    graph.add("toy.probe", registry=registry, node_id="9")
    graph.connect("1", "out", "7", "x")
    graph.connect("7", "out", "8", "a")
    graph.connect("8", "out", "9", "x")
    graph.connect("9", "out", "4", "x")
    gc.collect()
    Executor(registry).run(graph)
    # By the time the probe runs, Volatile's result had one consumer (Add), which is done.
    assert sink["alive_at_probe"] is False


def test_failing_node_reports_and_keeps_earlier_results_cached(toy):
    registry, calls, sink, graph = toy
    graph.add("toy.fail", registry=registry, node_id="6", title="Breaker")
    graph.connect("3", "out", "6", "x")
    graph.connect("6", "out", "4", "x")
    executor = Executor(registry)
    events = []
    result = executor.run(graph, listeners=[events.append])
    assert result.status == "failed"
    assert "'Breaker' (#6)" in result.error and "boom" in result.error
    failed = [e for e in events if isinstance(e, NodeFailed)]
    assert failed[0].node_id == "6" and "RuntimeError" in failed[0].traceback
    graph.nodes["6"].values["mode"] = "pass"
    again = executor.run(graph)
    assert again.status == "ok"
    assert {"1", "2", "3"} <= set(again.cached)
    assert sink["values"] == [5]


def test_cancel_at_a_step_stops_within_that_step(toy):
    registry, calls, sink, graph = toy
    graph.nodes["4"].values["steps"] = 50
    token = CancelToken()
    sink["token"], sink["cancel_at"] = token, 2
    events = []
    result = Executor(registry).run(graph, cancel=token, listeners=[events.append])
    assert result.status == "cancelled"
    steps = [e.step for e in events if isinstance(e, StepProgress)]
    assert steps == [1, 2, 3]
    assert any(isinstance(e, RunCancelled) and e.node_id == "4" for e in events)
    assert "sink" not in calls


def test_cancel_before_start_runs_nothing(toy):
    registry, calls, sink, graph = toy
    token = CancelToken()
    token.cancel()
    result = Executor(registry).run(graph, cancel=token)
    assert result.status == "cancelled" and result.executed == ()


def test_invalid_graph_raises_before_running(toy):
    registry, calls, sink, graph = toy
    graph.nodes["1"].values["value"] = 1000
    with pytest.raises(ValidationError) as info:
        Executor(registry).run(graph)
    assert "'Constant' (#1), field 'value'" in str(info.value)
    assert not calls


def test_broken_listener_does_not_break_the_run(toy):
    registry, calls, sink, graph = toy

    def listener(event):
        raise RuntimeError("listener bug")

    assert Executor(registry).run(graph, listeners=[listener]).status == "ok"


def test_finished_events_carry_timings(toy):
    registry, calls, sink, graph = toy
    events = []
    Executor(registry).run(graph, listeners=[events.append])
    finished = [e for e in events if isinstance(e, NodeFinished)]
    assert len(finished) == 5 and all(e.seconds >= 0 for e in finished)
