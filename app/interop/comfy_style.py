"""ComfyUI interop for style models: StyleModelLoader (Flux Redux) and StyleModelApply (an image's
tokens appended to the conditioning, with ComfyUI's strength and strength_type; older files
have neither: 1.0, multiply) onto our Load Style Model and Apply Style Model, both ways."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from app.interop.model_names import file_name

_LINKS = {"conditioning": "conditioning", "style_model": "style_model",
          "clip_vision_output": "embedding"}
_STRENGTH_TYPES = ("multiply", "attn_bias")


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "StyleModelLoader": comfy_class("loaders.style_model", {}, ("style_model",),
                                        ("style_model_name",)),
        "StyleModelApply": comfy_class("conditioning.style_model", _LINKS, ("conditioning",),
                                       ("strength", "strength_type")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "StyleModelLoader":
        return {"style_model": fields.text("style_model_name", "")}
    if cls == "StyleModelApply":
        kind = fields.text("strength_type", "multiply")
        if kind not in _STRENGTH_TYPES:
            fields.fail("strength_type", f"{show(kind)} is not one of multiply, attn_bias")
        return {"strength": fields.number("strength", 1.0, 0.0, 10.0), "strength_type": kind}
    return None


EXPORT_CLASSES = {"loaders.style_model": "StyleModelLoader",
                  "conditioning.style_model": "StyleModelApply"}
EXPORT_INPUTS = {"loaders.style_model": {},
                 "conditioning.style_model": {ours: comfy for comfy, ours in _LINKS.items()}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "loaders.style_model":
        name = v.get("style_model")
        return {"style_model_name": file_name(name, "style_models")[0]
                if isinstance(name, str) else name}
    return {"strength": v.get("strength"), "strength_type": v.get("strength_type")}
