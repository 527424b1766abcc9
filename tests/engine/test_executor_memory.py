"""The executor's cache stays bounded: a chain of thousands of nodes does not keep every
intermediate result alive, while a normal graph's seed-only rerun stays cached."""

from __future__ import annotations

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.declaration import Int, Link, Output, node
from tests.engine.toy_nodes import NUM, Box, make_registry


class Blob:
    """A result that says it holds ``nbytes`` of array data."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def _chain(length: int, max_results: int = 256, max_result_bytes: int = 4 << 30):
    registry, _, sink = make_registry()
    executor = Executor(registry, max_results=max_results, max_result_bytes=max_result_bytes)
    seen: list[int] = []

    @node("toy.link", title="Link", category="toy", registry=registry,
          inputs=[Link("x", NUM), Int("size", 0, min=0, max=1 << 30)],
          outputs=[Output("out", NUM), Output("blob", "BLOB")])
    def link(ctx, x, size):
        seen.append(executor.cache_size)
        return Box(x.value + 1), Blob(size)

    graph = Graph()
    graph.add("toy.const", registry=registry, values={"value": 0}, node_id="c")
    previous = "c"
    for i in range(length):
        graph.add("toy.link", registry=registry, node_id=f"n{i}", values={"size": 1000})
        graph.connect(previous, "out", f"n{i}", "x")
        previous = f"n{i}"
    graph.add("toy.sink", registry=registry, node_id="end")
    graph.connect(previous, "out", "end", "x")
    return executor, graph, seen, sink


def test_a_long_chain_keeps_at_most_max_results_cached_even_while_running():
    executor, graph, seen, sink = _chain(10_000, max_results=50)
    result = executor.run(graph)
    assert result.status == "ok" and sink["values"] == [10_000]
    assert max(seen) <= 50 and executor.cache_size <= 50
    again = executor.run(graph)  # the newest results are the ones still cached
    assert again.status == "ok" and sink["values"][-1] == 10_000


def test_the_byte_cap_evicts_big_results():
    executor, graph, seen, _ = _chain(40, max_result_bytes=10_000)
    assert executor.run(graph).status == "ok"
    assert executor.cache_size <= 10  # 1,000 bytes each


def test_a_normal_graph_reruns_from_the_cache_with_the_defaults():
    executor, graph, _, sink = _chain(30)
    executor.run(graph)
    graph.nodes["n29"].values["size"] = 7  # only the last node changes
    result = executor.run(graph)
    assert set(result.executed) == {"n29", "end"} and len(result.cached) == 30
