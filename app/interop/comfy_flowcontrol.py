"""ComfyUI interop for the SD3/Flux ControlNets (issues 13/14): ComfyUI's ControlNetApplySD3
("Apply Controlnet with VAE", comfy_extras/nodes_sd3.py) is ControlNetApplyAdvanced with the
VAE required, so it opens as our Apply ControlNet with its vae link. Our Apply ControlNet
exports as ControlNetApplyAdvanced (its vae is optional there), so this module exports
nothing of its own; ControlNetLoader loads SD3 and Flux ControlNets as it loads the others."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "ControlNetApplySD3": comfy_class(
            "conditioning.apply_controlnet",
            {"positive": "positive", "negative": "negative", "control_net": "control_net",
             "image": "image", "vae": "vae"},
            ("positive", "negative"), ("strength", "start_percent", "end_percent")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for ControlNetApplySD3's widgets (None: not one of its classes)."""
    if cls != "ControlNetApplySD3":
        return None
    return {"strength": fields.number("strength", 1.0),
            "start_percent": fields.number("start_percent", 0.0),
            "end_percent": fields.number("end_percent", 1.0)}


EXPORT_CLASSES: dict[str, str] = {}  # exported as ControlNetApplyAdvanced (comfy_export)
EXPORT_INPUTS: dict[str, dict[str, str]] = {}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """No node type exports through this module (``EXPORT_CLASSES`` is empty)."""
    return {}
