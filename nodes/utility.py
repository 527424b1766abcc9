"""Utility nodes: reroutes, and primitive values that drive widgets of other nodes by a link
(one Seed feeding several samplers)."""

from __future__ import annotations

from typing import Any

from node_api.context import NodeContext
from node_api.declaration import Boolean, Float, Int, Link, Output, String, node
from node_api.ports import ANY, BOOLEAN, FLOAT, INT, STRING
from nodes.sampling import MAX_SEED


@node(
    "utility.reroute",
    title="Reroute",
    category="utility",
    description="A bend in a link: passes what it receives on, unchanged (it never runs).",
    inputs=[Link("input", ANY)],
    outputs=[Output("output", ANY)],
    passthrough=True,
)
def reroute(ctx: NodeContext, input: Any) -> Any:  # noqa: A002 (the port's name)
    return input


@node("utility.int", title="Integer", category="utility",
      description="A whole number to link into any integer field.",
      inputs=[Int("value", 0, min=-(2**63), max=2**63 - 1)], outputs=[Output("value", INT)])
def int_value(ctx: NodeContext, value: int) -> int:
    return value


@node("utility.seed", title="Seed", category="utility",
      description="A random seed to link into the seed fields of several nodes; batches sweep it "
      "like a Noise Source's.",
      inputs=[Int("seed", 0, min=0, max=MAX_SEED, widget="seed")], outputs=[Output("seed", INT)])
def seed_value(ctx: NodeContext, seed: int) -> int:
    return seed


@node("utility.float", title="Number", category="utility",
      description="A decimal number to link into any number field.",
      inputs=[Float("value", 0.0, min=-1e9, max=1e9, step=0.01)],
      outputs=[Output("value", FLOAT)])
def float_value(ctx: NodeContext, value: float) -> float:
    return value


@node("utility.string", title="Text", category="utility",
      description="Text to link into any text or choice field (a prompt shared by two encoders).",
      inputs=[String("value", "", multiline=True)], outputs=[Output("value", STRING)])
def string_value(ctx: NodeContext, value: str) -> str:
    return value


@node("utility.boolean", title="Switch", category="utility",
      description="On or off, to link into any on/off field.",
      inputs=[Boolean("value", False)], outputs=[Output("value", BOOLEAN)])
def boolean_value(ctx: NodeContext, value: bool) -> bool:
    return value
