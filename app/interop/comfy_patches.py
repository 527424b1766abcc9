"""ComfyUI interop for model patches: DifferentialDiffusion (a soft noise mask as per-area
strength; older files have no strength widget, which means 1) and HypernetworkLoader (an
A1111 hypernetwork on the attention inputs), both ways."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader
from app.interop.model_names import file_name

_MODEL = {"model": "model"}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {"DifferentialDiffusion": comfy_class("model.differential_diffusion", _MODEL,
                                                 ("model",), ("strength",)),
            "HypernetworkLoader": comfy_class("loaders.hypernetwork", _MODEL, ("model",),
                                              ("hypernetwork_name", "strength"))}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "DifferentialDiffusion":
        return {"strength": fields.number("strength", 1.0, 0.0, 1.0)}
    if cls == "HypernetworkLoader":
        return {"hypernetwork": fields.text("hypernetwork_name", ""),
                "strength": fields.number("strength", 1.0, -10.0, 10.0)}
    return None


EXPORT_CLASSES = {"model.differential_diffusion": "DifferentialDiffusion",
                  "loaders.hypernetwork": "HypernetworkLoader"}
EXPORT_INPUTS = {"model.differential_diffusion": _MODEL, "loaders.hypernetwork": _MODEL}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "loaders.hypernetwork":
        name = v.get("hypernetwork")  # named as ComfyUI lists it: with its extension
        return {"hypernetwork_name": file_name(name, "hypernetworks", ".pt")[0]
                if isinstance(name, str) else name, "strength": v.get("strength", 1.0)}
    return {"strength": v.get("strength", 1.0)}
