"""Checked reads of one node's values from a file we did not write (a ComfyUI or A1111
import): each returns the value in the type asked for, or raises WorkflowError naming the
file, the node and the field, so a malformed value is one clear line and never a
TypeError from deep inside an importer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from app.engine.workflow import WorkflowError
from pipelines.untrusted_json import show

__all__ = ["FieldReader", "show"]

_NOTHING = object()


class FieldReader:
    """Typed reads of ``values`` (one node's fields) from ``source``.

    Args:
        node: how messages name the node, e.g. ``"node #3 (KSampler)"``.
    """

    def __init__(self, source: str | Path, node: str, values: Mapping[str, Any]) -> None:
        self.source = source
        self.node = node
        self.values = values

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def fail(self, name: str, message: str) -> NoReturn:
        raise WorkflowError(self.source, f"{self.node} field {name!r}: {message}")

    def integer(self, name: str, default: int, lo: int | None = None,
                hi: int | None = None) -> int:
        """A whole number: an int, an integral float or integer text (as ComfyUI accepts)."""
        raw = self.values.get(name, _NOTHING)
        if raw is _NOTHING:
            return default
        value: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
            value = int(raw)
        elif isinstance(raw, str) and len(raw.strip()) <= 40:
            try:
                value = int(raw.strip())
            except ValueError:
                value = None
        if value is None:
            self.fail(name, f"expected an integer, got {show(raw)}")
        return self._in_range(name, value, lo, hi)

    def number(self, name: str, default: float, lo: float | None = None,
               hi: float | None = None) -> float:
        """A finite number (int, float or numeric text)."""
        raw = self.values.get(name, _NOTHING)
        if raw is _NOTHING:
            return default
        value: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            try:
                value = float(raw)
            except OverflowError:
                value = None
        elif isinstance(raw, str) and len(raw.strip()) <= 40:
            try:
                value = float(raw.strip())
            except ValueError:
                value = None
        if value is None or not math.isfinite(value):
            self.fail(name, f"expected a finite number, got {show(raw)}")
        return self._in_range(name, value, lo, hi)

    def text(self, name: str, default: str) -> str:
        raw = self.values.get(name, _NOTHING)
        if raw is _NOTHING:
            return default
        if not isinstance(raw, str):
            self.fail(name, f"expected text, got {show(raw)}")
        return raw

    def flag(self, name: str, default: bool) -> bool:
        raw = self.values.get(name, _NOTHING)
        if raw is _NOTHING:
            return default
        if not isinstance(raw, bool):
            self.fail(name, f"expected true or false, got {show(raw)}")
        return raw

    def _in_range(self, name: str, value: Any, lo: Any, hi: Any) -> Any:
        if lo is not None and value < lo:
            self.fail(name, f"{show(value)} is below the minimum {lo}")
        if hi is not None and value > hi:
            self.fail(name, f"{show(value)} is above the maximum {hi}")
        return value
