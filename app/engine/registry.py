"""The registry of node types: it imports every module of the ``nodes`` package and collects
the specs that ``@node`` attached to their functions."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

from node_api.declaration import NodeSpec


class Registry:
    """Node specs by stable type id."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._discovered = False

    def add(self, spec: NodeSpec) -> None:
        existing = self._specs.get(spec.type_id)
        if existing is not None and existing.func is not spec.func:
            if existing.func.__qualname__ != spec.func.__qualname__:
                raise ValueError(f"node type {spec.type_id!r} is declared twice")
        self._specs[spec.type_id] = spec

    def discover(self, package: str = "nodes") -> Registry:
        """Import every public module of ``package`` and add the node specs defined in it."""
        if self._discovered:
            return self
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{package}."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                self.collect(importlib.import_module(info.name))
        self._discovered = True
        return self

    def collect(self, module: ModuleType) -> None:
        """Add every node declared in ``module`` (functions carrying a ``spec``)."""
        for value in vars(module).values():
            spec = getattr(value, "spec", None)
            if isinstance(spec, NodeSpec) and spec.func is value:
                self.add(spec)

    def with_specs(self, specs: list[NodeSpec]) -> Registry:
        """A copy of this (discovered) registry with ``specs`` added, e.g. a graph's subgraphs."""
        if not specs:
            return self
        copy = Registry()
        copy._specs = dict(self._specs)
        copy._discovered = True
        for spec in specs:
            copy.add(spec)
        return copy

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.category, s.title)))

    def __len__(self) -> int:
        return len(self._specs)

    def by_category(self) -> dict[str, list[NodeSpec]]:
        grouped: dict[str, list[NodeSpec]] = {}
        for spec in self:
            grouped.setdefault(spec.category, []).append(spec)
        return grouped


REGISTRY = Registry()


def default_registry() -> Registry:
    """The process-wide registry with every node in ``nodes/`` discovered."""
    return REGISTRY.discover()
