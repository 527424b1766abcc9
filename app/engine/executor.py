"""The topological executor: runs what the requested outputs need, caching across runs.

Each node's cache key hashes its type, version, values and the keys of what feeds it,
so changing the seed re-runs only the noise, the sampler and what follows, while model
loading and text encoding are served from the cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.result_cache import ResultCache
from app.engine.run_settings import run_options
from app.engine.subgraphs import runnable, targets_in
from app.engine.validation import ValidationError, validate
from node_api.context import Cancelled, CancelToken, NodeContext, RunOptions
from node_api.declaration import NodeSpec, Value
from node_api.errors import NodeInputError
from node_api.events import (
    Event,
    Listener,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    RunCancelled,
    RunFinished,
    RunMessage,
    RunStarted,
)
from node_api.ports import NETWORK_TYPES

log = logging.getLogger(__name__)
_run_ids = itertools.count(1)


class Executor:
    """Runs graphs; keeps a cache of node results between runs.

    Args:
        registry: where node types are looked up.
        keep_previous: how many results of earlier runs that the latest run did not
            use stay cached (least recently used go first).
        caching: False keeps nothing between runs, so every intermediate result is
            freed as soon as its last consumer has read it.
        max_results, max_result_bytes: at most this many cached results (networks aside),
            holding at most about this many bytes of arrays; the least recently used go
            first, even during a run, so a graph of thousands of nodes cannot keep every
            intermediate alive (a normal graph stays far below both).

    Results holding networks are kept only while the latest run uses them (see
    ``app.engine.result_cache``); switching back to an earlier checkpoint is a model-cache hit.
    """

    def __init__(
        self,
        registry: Registry,
        keep_previous: int = 16,
        caching: bool = True,
        max_results: int = 256,
        max_result_bytes: int = 4 << 30,
    ) -> None:
        self.registry = registry
        self.caching = caching
        self._cache = ResultCache(keep_previous, max_results, max_result_bytes)
        self._lock = threading.Lock()

    # -- cache -------------------------------------------------------------------
    def clear_cache(self) -> None:
        self._cache.clear()

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    # -- running -----------------------------------------------------------------
    def run(
        self,
        graph: Graph,
        *,
        targets: list[str] | None = None,
        options: RunOptions | None = None,
        listeners: Iterable[Listener] = (),
        cancel: CancelToken | None = None,
        force: bool = False,
    ) -> RunFinished:
        """Validate and run ``graph``; returns the final event.

        Args:
            targets: node ids whose results are wanted (default: every output node).
            force: ignore cached results and run every needed node again.

        Raises:
            ValidationError: the graph cannot run; nothing was executed.
        """
        problems = validate(graph, self.registry, targets)
        if problems:
            raise ValidationError(problems)
        graph = runnable(graph, self.registry)  # subgraphs expanded, bypass/mute resolved
        targets = targets_in(graph, targets)
        options = run_options(options or RunOptions(), graph.metadata)
        with self._lock:
            return self._run(graph, targets, options, list(listeners),
                             cancel or CancelToken(), force)

    def _run(self, graph: Graph, targets: list[str] | None, options: RunOptions,
             listeners: list[Listener], cancel: CancelToken, force: bool) -> RunFinished:
        run_id = next(_run_ids)
        said: set[tuple[str, str]] = set()  # each message once per run (one per sampler else)

        def emit(event: Event) -> None:
            if isinstance(event, RunMessage):
                if (event.level, event.text) in said:
                    return
                said.add((event.level, event.text))
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a broken listener must not break the run
                    log.exception("event listener failed on %r", event)

        if targets is None:
            targets = [n.id for n in graph.nodes.values() if self._spec(n.type).is_output]
        order = graph.topological_order(graph.ancestors(targets))
        consumers = {node_id: 0 for node_id in order}
        for edge in graph.edges:
            if edge.target in consumers and edge.source in consumers:
                consumers[edge.source] += 1
        incoming = _incoming(graph)
        keys = self._keys(graph, order, run_id, options, incoming)
        # before anything loads: a network this run does not use must not stay alive
        # beside the one replacing it (the model cache's budget counts on that)
        self._cache.drop_networks(set(keys.values()))

        emit(RunStarted(run_id, tuple(order)))
        started = time.perf_counter()
        results: dict[str, tuple[Any, ...]] = {}
        timings: dict[str, float] = {}
        executed: list[str] = []
        cached: list[str] = []
        files: list[str] = []
        status, error, current = "ok", None, None
        try:
            for node_id in order:
                cancel.raise_if_cancelled()
                current = node_id
                node = graph.nodes[node_id]
                spec = self._spec(node.type)
                key = keys[node_id]
                if not force and key in self._cache:
                    results[node_id] = self._cache.get(key)
                    cached.append(node_id)
                    timings[node_id] = 0.0
                    emit(NodeCached(run_id, node_id, node.title))
                else:
                    emit(NodeStarted(run_id, node_id, node.title, node.type))
                    t0 = time.perf_counter()
                    ctx = NodeContext(node_id, node.title, run_id, options, cancel, emit)
                    kwargs = self._inputs(graph, node_id, spec, results, incoming)
                    outputs = _as_tuple(spec.func(ctx, **kwargs), len(spec.outputs))
                    timings[node_id] = time.perf_counter() - t0
                    files.extend(ctx.files)
                    results[node_id] = outputs
                    if self.caching and spec.cacheable and not spec.is_output:
                        network = any(o.type in NETWORK_TYPES for o in spec.outputs)
                        self._cache.store(key, outputs, network)
                    executed.append(node_id)
                    emit(NodeFinished(run_id, node_id, node.title, timings[node_id]))
                for edge in incoming.get(node_id, {}).values():
                    consumers[edge.source] -= 1
                    if consumers[edge.source] == 0 and edge.source not in targets:
                        results.pop(edge.source, None)  # nobody in this run reads it again
            current = None
        except Cancelled:
            status = "cancelled"
            emit(RunCancelled(run_id, current))
        except Exception as exc:  # a failing node never takes the process down
            status = "failed"
            node = graph.nodes[current] if current else None
            label = node.label() if node else "the run"
            error = f"{label} failed: {_describe(exc)}"
            emit(NodeFailed(run_id, current or "", node.title if node else "", error, exc,
                            traceback.format_exc()))
        self._cache.prune(set(keys.values()))
        finished = RunFinished(
            run_id,
            status,
            outputs={t: results[t] for t in targets if t in results},
            timings=timings,
            executed=tuple(executed),
            cached=tuple(cached),
            files=tuple(files),
            error=error,
            seconds=time.perf_counter() - started,
        )
        emit(finished)
        return finished

    def _spec(self, type_id: str) -> NodeSpec:
        spec = self.registry.get(type_id)
        if spec is None:
            raise KeyError(type_id)
        return spec

    def _inputs(
        self,
        graph: Graph,
        node_id: str,
        spec: NodeSpec,
        results: dict[str, tuple[Any, ...]],
        incoming: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        kwargs = _values(graph.nodes[node_id], spec)
        edges = incoming.get(node_id, {})
        for link in spec.links:
            kwargs[link.name] = None
        for name, edge in edges.items():
            source_spec = self._spec(graph.nodes[edge.source].type)
            index = [o.name for o in source_spec.outputs].index(edge.output)
            kwargs[name] = results[edge.source][index]
            port = spec.input(name)
            if isinstance(port, Value):  # a widget driven by a link: checked like typed text
                kwargs[name] = _linked_value(port, kwargs[name])
        return kwargs

    def _keys(
        self,
        graph: Graph,
        order: list[str],
        run_id: int,
        options: RunOptions,
        incoming: dict[str, dict[str, Any]],
    ) -> dict[str, str]:
        # Where and in which precision the networks run changes every result downstream.
        setting = [options.device, options.precision, options.vae_precision, options.vram_mode]
        keys: dict[str, str] = {}
        for node_id in order:
            node = graph.nodes[node_id]
            spec = self._spec(node.type)
            edges = incoming.get(node_id, {})
            # a value driven by a link is keyed by its upstream key, not the hidden widget
            values = {k: v for k, v in _values(node, spec).items() if k not in edges}
            upstream = sorted((e.input, keys[e.source], e.output) for e in edges.values())
            volatile = run_id if (spec.is_output or not spec.cacheable) else None
            extra = spec.fingerprint(values) if spec.fingerprint else None
            blob = json.dumps(
                [spec.type_id, spec.version, values, upstream, volatile, extra, setting],
                sort_keys=True,
                default=str,
            )
            keys[node_id] = hashlib.sha256(blob.encode()).hexdigest()
        return keys


def _values(node: Any, spec: NodeSpec) -> dict[str, Any]:
    """The node's widget values as its function receives them (defaults filled, coerced)."""
    return {v.name: v.coerce(node.values.get(v.name, v.default)) for v in spec.values}


def _linked_value(port: Value, raw: Any) -> Any:
    try:
        value = port.coerce(raw)
    except (ValueError, TypeError) as exc:
        raise NodeInputError(port.name, f"the linked value is not usable: {exc}") from None
    if (issue := port.check(value)) is not None:
        raise NodeInputError(port.name, f"the linked value {value!r}: {issue}")
    return value

def _incoming(graph: Graph) -> dict[str, dict[str, Any]]:
    """``graph.incoming`` of every node at once (one pass instead of one per node)."""
    found: dict[str, dict[str, Any]] = {}
    for edge in graph.edges:
        found.setdefault(edge.target, {})[edge.input] = edge
    return found


def _as_tuple(result: Any, count: int) -> tuple[Any, ...]:
    if count == 0:
        return ()
    if count == 1 and not isinstance(result, tuple):
        return (result,)
    if not isinstance(result, tuple) or len(result) != count:
        raise TypeError(f"node returned {result!r}, expected {count} outputs")
    return result


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__
