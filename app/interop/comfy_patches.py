"""ComfyUI interop for model patches that change how a sampler uses its inputs:
DifferentialDiffusion (a soft noise mask as per-area strength; older files have no strength
widget, which means 1), both ways."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader

_MODEL = {"model": "model"}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {"DifferentialDiffusion": comfy_class("model.differential_diffusion", _MODEL,
                                                 ("model",), ("strength",))}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "DifferentialDiffusion":
        return {"strength": fields.number("strength", 1.0, 0.0, 1.0)}
    return None


EXPORT_CLASSES = {"model.differential_diffusion": "DifferentialDiffusion"}
EXPORT_INPUTS = {"model.differential_diffusion": _MODEL}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    return {"strength": v.get("strength", 1.0)}
