"""ComfyUI interop for step caching (issue 17): ComfyUI's EasyCache and LazyCache
(comfy_extras/nodes_easycache.py) open as our Step Cache (``model.step_cache``), which exports
as EasyCache.

The three share the idea and the widgets (``reuse_threshold``, ``start_percent``,
``end_percent``; defaults 0.2 / 0.15 / 0.95) but not every detail, so an import notes how they
differ:

- ComfyUI adds up the estimated output changes of the skipped steps and skips while the sum
  stays under the threshold; we estimate the change since the last computed step in one go
  (the same quantity when the input moves steadily);
- a skipped step there returns the new input plus the last output-minus-input difference;
  ours returns the last output;
- ComfyUI's start/end are fractions of the sigma range (``percent_to_sigma``), ours
  fractions of the steps; ComfyUI measures on an 8x subsampled latent, we on all of it;
- EasyCache caches per conditioning and skips when the first one says so; LazyCache and ours
  wrap the whole prediction of a step.

``verbose`` only logs in ComfyUI: dropped (our log names the skipped steps anyway).
"""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader

_CLASSES = ("EasyCache", "LazyCache")
# ComfyUI widget -> (ours, default, lo, hi)
_WIDGETS = {"reuse_threshold": ("threshold", 0.2, 0.0, 3.0),
            "start_percent": ("start", 0.15, 0.0, 1.0),
            "end_percent": ("end", 0.95, 0.0, 1.0)}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    widgets = (*_WIDGETS, "verbose")
    return {cls: comfy_class("model.step_cache", {"model": "model"}, ("model",), widgets)
            for cls in _CLASSES}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _CLASSES:
        return None
    values = {ours: fields.number(name, default, lo, hi)
              for name, (ours, default, lo, hi) in _WIDGETS.items()}
    if values["end"] < values["start"]:
        fields.fail("end_percent", f"end ({values['end']:g}) is before start "
                    f"({values['start']:g})")
    note(f"{cls}: sampled with our Step Cache (same threshold, start and end; it reuses the "
         "last output instead of the last output-minus-input difference, measures since the "
         "last computed step instead of adding up per-step estimates, and counts start/end "
         "in steps instead of sigmas): images differ slightly")
    return values


EXPORT_CLASSES = {"model.step_cache": "EasyCache"}
EXPORT_INPUTS = {"model.step_cache": {"model": "model"}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """EasyCache's widget inputs of a Step Cache."""
    return {"reuse_threshold": v.get("threshold", 0.2),
            "start_percent": v.get("start", 0.15), "end_percent": v.get("end", 0.95),
            "verbose": False}


def export_problem(graph: Any, node: Any) -> str | None:
    """A Step Cache over EasyCache's range has no ComfyUI counterpart."""
    if node.type == "model.step_cache" and float(node.values.get("threshold", 0.2)) > 3.0:
        return "ComfyUI's EasyCache takes a reuse_threshold of at most 3"
    return None
