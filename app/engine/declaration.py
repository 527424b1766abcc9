"""The node declaration API: one short typed declaration per node type.

A declaration is the single source for validation, GUI widgets, CLI overrides, the
workflow JSON schema and the generated docs. Nodes are plain functions registered with
the :func:`node` decorator; inputs and outputs have stable names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.engine.types import BOOLEAN, CHOICE, FLOAT, INT, STRING, VALUE_TYPES

if TYPE_CHECKING:
    from app.engine.registry import Registry


class DeclarationError(Exception):
    """A node declaration is malformed (a programming error in nodes/)."""


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
class Value:
    """Base of the widget-backed value inputs; see the concrete kinds below."""

    name: str
    default: Any
    description: str = ""
    type: str = ""

    @property
    def is_value(self) -> bool:
        return True

    @property
    def optional(self) -> bool:
        return True

    def coerce(self, raw: Any) -> Any:
        """Return ``raw`` converted to this input's Python type, or raise ValueError."""
        return raw

    def check(self, value: Any) -> str | None:
        """Return a problem description for ``value``, or None when it is acceptable."""
        return None

    def parse(self, text: str) -> Any:
        """Parse a command-line string (``--set NODE.FIELD=TEXT``) into a value."""
        return self.coerce(text)

    def schema(self) -> dict[str, Any]:
        return {"description": self.description, "default": self.default}


@dataclass(frozen=True)
class Int(Value):
    min: int | None = None
    max: int | None = None
    step: int = 1
    type: str = INT
    widget: str = "spin"  # "spin" | "slider" | "seed"

    def coerce(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            return int(raw.strip())
        raise ValueError(f"expected an integer, got {raw!r}")

    def check(self, value: Any) -> str | None:
        return _range_problem(value, self.min, self.max)

    def schema(self) -> dict[str, Any]:
        return _with_range({"type": "integer", **super().schema()}, self.min, self.max)


@dataclass(frozen=True)
class Float(Value):
    min: float | None = None
    max: float | None = None
    step: float = 0.1
    type: str = FLOAT
    widget: str = "spin"

    def coerce(self, raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        if isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str):
            value = float(raw.strip())
        else:
            raise ValueError(f"expected a number, got {raw!r}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {raw!r}")
        return value

    def check(self, value: Any) -> str | None:
        return _range_problem(value, self.min, self.max)

    def schema(self) -> dict[str, Any]:
        return _with_range({"type": "number", **super().schema()}, self.min, self.max)


@dataclass(frozen=True)
class String(Value):
    multiline: bool = False
    # "text" | "path" | "model:<folder>" (file picker over a model folder) | "image"
    kind: str = "text"
    type: str = STRING

    def coerce(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", **super().schema()}


@dataclass(frozen=True)
class Boolean(Value):
    type: str = BOOLEAN

    def coerce(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ValueError(f"expected true or false, got {raw!r}")

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean", **super().schema()}


@dataclass(frozen=True)
class Choice(Value):
    choices: tuple[str, ...] = ()
    type: str = CHOICE

    def coerce(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {raw!r}")
        return raw.strip()

    def check(self, value: Any) -> str | None:
        if value not in self.choices:
            return f"{value!r} is not one of: {', '.join(self.choices)}"
        return None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), **super().schema()}


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _range_problem(value: float, lo: float | None, hi: float | None) -> str | None:
    if lo is not None and value < lo:
        return f"{value} is below the minimum {lo}"
    if hi is not None and value > hi:
        return f"{value} is above the maximum {hi}"
    return None


def _with_range(schema: dict[str, Any], lo: float | None, hi: float | None) -> dict[str, Any]:
    if lo is not None:
        schema["minimum"] = lo
    if hi is not None:
        schema["maximum"] = hi
    return schema


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
    migrations: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    fingerprint: Callable[[dict[str, Any]], Any] | None = None,
    check: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None,
    registry: Registry | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a node type; the decorated function is its implementation.

    The function is called as ``func(ctx, **inputs)`` and returns a tuple (or a single
    value when there is one output) in the order of ``outputs``.

    Args:
        type_id: stable id saved in workflow files, e.g. ``"sampling.sampler"``.
        migrations: ``{from_version: fn(values) -> values}`` upgrading saved values.
        fingerprint: extra cache-key material from outside the graph (file mtimes).
        check: a rule across several values, returning ``[(field, problem)]``.
        registry: where to register (default: the process-wide registry).
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        from app.engine.registry import REGISTRY

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
            migrations=dict(migrations or {}),
            fingerprint=fingerprint,
            check=check,
        )
        _check_spec(spec)
        (registry if registry is not None else REGISTRY).add(spec)
        func.spec = spec  # type: ignore[attr-defined]
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
