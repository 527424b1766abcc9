"""Import only the parts of diffusers a run uses.

The packages ``diffusers.models.{unets,autoencoders,transformers,controlnets}`` and
``diffusers.hooks`` import every module of their kind in ``__init__`` (76 transformers alone,
~140 modules in all), so ``import diffusers.models.unets.unet_2d_condition`` -- or
``diffusers.UNet2DConditionModel`` through diffusers' lazy top level -- builds all of them.

``install()`` adds an import finder (installing it imports nothing) that loads those packages
*deferred*: their submodules import as usual, and a package's own ``__init__`` runs the first
time a name is looked up on the package itself, so ``from diffusers.models.unets import
UNet1DModel`` still works. Nothing changes what the classes compute (the whole test suite,
parity tests included, runs with it installed). ``STUDIO_EAGER_IMPORTS=1`` turns it off
(``benchmarks/cold_start.py`` compares both).

What stays (measured, diffusers 0.42): ``torch._dynamo`` (~1 s) is imported by
``diffusers.hooks.group_offloading`` through ``torch.compiler.disable`` at class-definition
time, and ``diffusers.models.modeling_utils`` needs that module; scipy comes with
``transformers.modeling_utils``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

DEFERRED_PACKAGES: frozenset[str] = frozenset({
    "diffusers.models.unets",
    "diffusers.models.autoencoders",
    "diffusers.models.transformers",
    "diffusers.models.controlnets",
    "diffusers.hooks",
})


class DeferredPackage(types.ModuleType):
    """A package whose ``__init__`` runs on the first name missing from it."""

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__
        if name.startswith("__") or state.get("_studio_initialising") or state.get(
                "_studio_initialised"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        state["_studio_initialising"] = True
        try:
            self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]
        finally:
            state["_studio_initialising"] = False
            state["_studio_initialised"] = True
        return getattr(self, name)


class _DeferredLoader(importlib.abc.Loader):
    """Creates a ``DeferredPackage`` and runs nothing yet."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module, re-classed below

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__.loader = self.real  # type: ignore[union-attr]
        module.__loader__ = self.real
        module.__class__ = DeferredPackage


class LazyDiffusersFinder(importlib.abc.MetaPathFinder):
    """Finds the real spec of the few modules above and swaps in the loaders."""

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name not in DEFERRED_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return None
        spec.loader = _DeferredLoader(spec.loader)
        return spec


def install() -> bool:
    """Install the finder once (unless ``STUDIO_EAGER_IMPORTS`` is set); True if it is in."""
    if os.environ.get("STUDIO_EAGER_IMPORTS", "") not in ("", "0"):
        return False
    if not any(isinstance(f, LazyDiffusersFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LazyDiffusersFinder())
    return True

