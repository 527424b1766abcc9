"""Widget value inputs of node declarations: Int, Float, String, Boolean, Choice.

Each knows its default, how to coerce raw input (workflow JSON, ``--set`` text, a widget),
its range/choice check and its JSON schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from node_api.ports import BOOLEAN, CHOICE, FLOAT, INT, STRING
from pipelines.untrusted_json import show


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
            raise ValueError(f"expected an integer, got {show(raw)}")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                raise ValueError(f"expected an integer, got {show(raw)}") from None
        raise ValueError(f"expected an integer, got {show(raw)}")

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
            raise ValueError(f"expected a number, got {show(raw)}")
        if isinstance(raw, int | float):
            try:
                value = float(raw)
            except OverflowError:  # an int beyond 1e308
                raise ValueError(f"expected a finite number, got {show(raw)}") from None
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {show(raw)}") from None
        else:
            raise ValueError(f"expected a number, got {show(raw)}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {show(raw)}")
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
            raise ValueError(f"expected text, got {show(raw)}")
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
        raise ValueError(f"expected true or false, got {show(raw)}")

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean", **super().schema()}


@dataclass(frozen=True)
class Choice(Value):
    choices: tuple[str, ...] = ()
    type: str = CHOICE

    def coerce(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {show(raw)}")
        return raw.strip()

    def check(self, value: Any) -> str | None:
        if value not in self.choices:
            return f"{show(value)} is not one of: {', '.join(self.choices)}"
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
