"""Model lookup for nodes: names in the model folders, or paths (see pipelines.loading.folders)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def resolve_model(name: str, kind: str) -> Path:
    """An existing path for model ``name`` of ``kind``; raises FileNotFoundError."""
    from pipelines.loading.folders import resolve

    return resolve(name, kind)


def list_models(kind: str) -> list[str]:
    """Names of the models of ``kind`` found in the model folders (for pickers)."""
    from pipelines.loading.folders import roots, scan

    names = []
    for path in scan(kind):
        root = next(r for r in roots(kind) if r in path.parents)
        names.append(str(path.relative_to(root)))
    return names


def model_fingerprint(field: str, kind: str) -> Callable[[dict[str, Any]], Any]:
    """Cache-key material for a loader node: the resolved file (or folder) with its
    modification time and size, so replacing a model file on disk makes the loader run again."""

    def fingerprint(values: dict[str, Any]) -> Any:
        from pipelines.memory.keys import file_fingerprint

        try:
            path = resolve_model(values[field], kind)
            return [str(path.resolve()), *file_fingerprint(path)]
        except FileNotFoundError:
            return None

    return fingerprint


def load_float32(ctx: Any, loader: Callable[..., T], name: str, kind: str) -> T:
    """Model ``name`` of ``kind`` through ``loader``, a cached loader that keeps its networks in
    float32 (priors, unCLIP cascades, CLIP vision), on the run's device and VRAM mode."""
    return loader(resolve_model(name, kind), device=ctx.device, vram_mode=ctx.options.vram_mode)


def load_settings(ctx: Any) -> dict[str, str]:
    """The run's device, precision and VRAM mode, as the cached loaders take them."""
    options = ctx.options
    return {"device": ctx.device, "precision": options.precision,
            "vae_precision": options.vae_precision, "vram_mode": options.vram_mode}


def on_device(ctx: Any, *values: Any) -> Any:
    """A context manager running the networks inside ``values`` (models, text encoders, VAEs,
    upscalers; None is skipped) on the run's device; each goes back where it was stored
    afterwards, which is what makes low-VRAM mode work (see ``pipelines.memory.placement``)."""
    from pipelines.memory.placement import on_device as place

    return place(values, ctx.device)
