"""Model lookup for nodes: names in the model folders, or paths (see pipelines.model_folders)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def resolve_model(name: str, kind: str) -> Path:
    """An existing path for model ``name`` of ``kind``; raises FileNotFoundError."""
    from pipelines.model_folders import resolve

    return resolve(name, kind)


def list_models(kind: str) -> list[str]:
    """Names of the models of ``kind`` found in the model folders (for pickers)."""
    from pipelines.model_folders import roots, scan

    names = []
    for path in scan(kind):
        root = next(r for r in roots(kind) if r in path.parents)
        names.append(str(path.relative_to(root)))
    return names


def model_fingerprint(field: str, kind: str) -> Callable[[dict[str, Any]], Any]:
    """Cache-key material for a loader node: the resolved file and its modification time,
    so replacing a model file on disk makes the loader run again."""

    def fingerprint(values: dict[str, Any]) -> Any:
        try:
            path = resolve_model(values[field], kind)
        except FileNotFoundError:
            return None
        return [str(path.resolve()), path.stat().st_mtime_ns]

    return fingerprint
