"""The node declaration API: one short typed declaration per node type.

A declaration is the single source for validation, GUI widgets, CLI overrides, the
workflow JSON schema and the generated docs. Nodes are plain functions marked with the
:func:`node` decorator, which only attaches a :class:`NodeSpec` (``func.spec``); the engine's
registry collects the specs when it discovers the ``nodes`` package. Inputs and outputs have
stable names, and a function's parameters must match its declared inputs (checked here).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from node_api.ports import VALUE_TYPES
from node_api.values import Boolean, Choice, Float, Int, String, Value

__all__ = [
    "Boolean", "Choice", "DeclarationError", "Float", "Input", "Int", "Link", "NodeSpec",
    "Output", "String", "Value", "node",
]


class DeclarationError(Exception):
    """A node declaration is malformed (a programming error in nodes/)."""


class SpecSink(Protocol):
    """Anything that collects node specs (the engine's ``Registry``)."""

    def add(self, spec: NodeSpec) -> None: ...


@dataclass(frozen=True)
class Link:
    """An input fed by a link from another node's output of port type ``type``."""

    name: str
    type: str
    description: str = ""
    optional: bool = False

    @property
    def is_value(self) -> bool:
        return False


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    description: str = ""


Input = Link | Value


@dataclass(frozen=True)
class NodeSpec:
    """Everything known about one node type, derived from its declaration."""

    type_id: str
    title: str
    category: str
    description: str
    version: int
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    func: Callable[..., Any]
    is_output: bool = False
    cacheable: bool = True
    # a reroute: the engine wires its input straight to its consumers; it never runs
    passthrough: bool = False
    migrations: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )
    # extra cache-key material from outside the graph, e.g. an input file's mtime
    fingerprint: Callable[[dict[str, Any]], Any] | None = None
    # cross-field rule: values -> [(field, problem)], e.g. a sampler/schedule pair
    check: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((o for o in self.outputs if o.name == name), None)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(i for i in self.inputs if isinstance(i, Link))

    @property
    def values(self) -> tuple[Value, ...]:
        return tuple(i for i in self.inputs if isinstance(i, Value))

    def default_values(self) -> dict[str, Any]:
        return {v.name: v.default for v in self.values}

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of this node type's ``values`` object in a workflow file."""
        return {
            "title": self.title,
            "description": self.description,
            "type": "object",
            "properties": {v.name: v.schema() for v in self.values},
            "additionalProperties": False,
        }


def node(
    type_id: str,
    *,
    title: str,
    category: str,
    inputs: Sequence[Input] = (),
    outputs: Sequence[Output] = (),
    version: int = 1,
    description: str = "",
    is_output: bool = False,
    cacheable: bool = True,
    passthrough: bool = False,
    migrations: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    fingerprint: Callable[[dict[str, Any]], Any] | None = None,
    check: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None,
    registry: SpecSink | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a node type; the decorated function is its implementation.

    The function is called as ``func(ctx, **inputs)`` and returns a tuple (or a single
    value when there is one output) in the order of ``outputs``.

    Args:
        type_id: stable id saved in workflow files, e.g. ``"sampling.sampler"``.
        migrations: ``{from_version: fn(values) -> values}`` upgrading saved values.
        fingerprint: extra cache-key material from outside the graph (file mtimes).
        check: a rule across several values, returning ``[(field, problem)]``.
        registry: also add the spec to this registry at once (tests build private ones);
            by default the spec is only attached and discovery collects it.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = NodeSpec(
            type_id=type_id,
            title=title,
            category=category,
            description=description or (func.__doc__ or "").strip().split("\n")[0],
            version=version,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            func=func,
            is_output=is_output,
            cacheable=cacheable,
            passthrough=passthrough,
            migrations=dict(migrations or {}),
            fingerprint=fingerprint,
            check=check,
        )
        _check_spec(spec)
        func.spec = spec  # type: ignore[attr-defined]
        if registry is not None:
            registry.add(spec)
        return func

    return register


def _check_spec(spec: NodeSpec) -> None:
    names = [i.name for i in spec.inputs]
    if len(names) != len(set(names)):
        raise DeclarationError(f"{spec.type_id}: duplicate input names {names}")
    for value in spec.values:
        if value.type not in VALUE_TYPES:
            raise DeclarationError(f"{spec.type_id}.{value.name}: unknown value type")
        if value.check(value.default) is not None:
            raise DeclarationError(
                f"{spec.type_id}.{value.name}: default {value.default!r} is invalid"
            )
    _check_signature(spec)


def _check_signature(spec: NodeSpec) -> None:
    """The function takes ``ctx`` and exactly the declared inputs (chaiNNer's schema check)."""
    params = list(inspect.signature(spec.func).parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        raise DeclarationError(f"{spec.type_id}: the function must take the run context first")
    rest = params[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest):
        return
    declared = {i.name for i in spec.inputs}
    taken = {p.name for p in rest if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    if missing := sorted(declared - taken):
        raise DeclarationError(
            f"{spec.type_id}: declared inputs {missing} are not parameters of {spec.func.__name__}"
        )
    if extra := sorted(
        p.name for p in rest
        if p.name not in declared and p.default is inspect.Parameter.empty
        and p.kind is not inspect.Parameter.VAR_POSITIONAL
    ):
        raise DeclarationError(
            f"{spec.type_id}: parameters {extra} of {spec.func.__name__} are not declared inputs"
        )
