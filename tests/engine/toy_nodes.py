"""A toy node set in a private registry, for testing the engine without torch."""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.engine.registry import Registry
from node_api.declaration import Choice, Float, Int, Link, Output, String, node

NUM = "LATENT"  # any link type will do; the engine only compares names


class Box:
    """A weak-referenceable number, so tests can see when results are freed."""

    def __init__(self, value: float) -> None:
        self.value = value


def make_registry() -> tuple[Registry, Counter[str], dict[str, Any]]:
    registry = Registry()
    calls: Counter[str] = Counter()
    sink: dict[str, Any] = {}

    @node("toy.const", title="Constant", category="toy", registry=registry,
          inputs=[Int("value", 1, min=0, max=100, description="the number")],
          outputs=[Output("out", NUM)])
    def const(ctx, value):
        calls["const"] += 1
        return Box(value)

    @node("toy.add", title="Add", category="toy", registry=registry,
          inputs=[Link("a", NUM), Link("b", NUM, optional=True),
                  Float("scale", 1.0, min=0.0, max=10.0)],
          outputs=[Output("out", NUM)])
    def add(ctx, a, b, scale):
        calls["add"] += 1
        return Box((a.value + (b.value if b else 0)) * scale)

    @node("toy.steps", title="Stepper", category="toy", registry=registry,
          inputs=[Link("x", NUM), Int("steps", 3, min=1, max=1000)],
          outputs=[Output("out", NUM)])
    def steps(ctx, x, steps):
        calls["steps"] += 1
        for i in range(steps):
            if sink.get("cancel_at") == i:
                sink["token"].cancel()
            ctx.progress(i + 1, steps)
        return Box(x.value)

    @node("toy.volatile", title="Volatile", category="toy", registry=registry, cacheable=False,
          inputs=[Link("x", NUM)], outputs=[Output("out", NUM)])
    def volatile(ctx, x):
        calls["volatile"] += 1
        box = Box(x.value)
        import weakref

        sink["volatile_ref"] = weakref.ref(box)
        return box

    @node("toy.probe", title="Probe", category="toy", registry=registry,
          inputs=[Link("x", NUM)], outputs=[Output("out", NUM)])
    def probe(ctx, x):
        ref = sink.get("volatile_ref")
        sink["alive_at_probe"] = ref() is not None if ref else None
        return Box(x.value)

    @node("toy.fail", title="Fail", category="toy", registry=registry,
          inputs=[Link("x", NUM), Choice("mode", "raise", choices=("raise", "pass"))],
          outputs=[Output("out", NUM)])
    def fail(ctx, x, mode):
        calls["fail"] += 1
        if mode == "raise":
            raise RuntimeError("boom")
        return Box(x.value)

    @node("toy.text", title="Text", category="toy", registry=registry,
          inputs=[String("text", "hi", multiline=True)], outputs=[Output("out", "CONDITIONING")])
    def text(ctx, text):
        return text

    @node("toy.network", title="Network", category="toy", registry=registry,
          inputs=[String("name", "a")], outputs=[Output("model", "MODEL")])
    def network(ctx, name):
        import gc
        import weakref

        calls["network"] += 1
        gc.collect()  # which earlier networks are still alive while this one loads
        sink["alive_at_load"] = {n: r() is not None for n, r in sink.get("networks", {}).items()}
        box = Box(len(name))

        sink.setdefault("networks", {})[name] = weakref.ref(box)
        return box

    @node("toy.use", title="Use Network", category="toy", registry=registry,
          inputs=[Link("model", "MODEL"), Link("x", NUM)], outputs=[Output("out", NUM)])
    def use(ctx, model, x):
        return Box(model.value + x.value)

    @node("toy.sink", title="Sink", category="toy", registry=registry, is_output=True,
          inputs=[Link("x", NUM)])
    def out(ctx, x):
        calls["sink"] += 1
        sink.setdefault("values", []).append(x.value)

    return registry, calls, sink


def make_chain(scale: float = 1.0) -> tuple[Registry, Counter[str], dict[str, Any], Any]:
    """const(2) + const(3) -> add(x scale) -> steps -> sink, with ids 1..5 in that order."""
    from app.engine.graph import Graph

    registry, calls, sink = make_registry()
    graph = Graph()
    graph.add("toy.const", registry=registry, values={"value": 2}, node_id="1")
    graph.add("toy.const", registry=registry, values={"value": 3}, node_id="2")
    graph.add("toy.add", registry=registry, values={"scale": scale}, node_id="3")
    graph.add("toy.steps", registry=registry, node_id="4")
    graph.add("toy.sink", registry=registry, node_id="5")
    graph.connect("1", "out", "3", "a")
    graph.connect("2", "out", "3", "b")
    graph.connect("3", "out", "4", "x")
    graph.connect("4", "out", "5", "x")
    return registry, calls, sink, graph
