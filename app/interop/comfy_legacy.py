"""ComfyUI interop for core class names that files still carry but ComfyUI deprecated or
renamed; import only (ours export under the current names):

- DiffusersLoader: a diffusers model folder, named relative to ComfyUI's ``models/diffusers``,
  opens as our Load Checkpoint, which reads diffusers folders itself (a note says where the
  folder is looked up);
- "ConditioningAverage " (with the trailing space older ComfyUI registered it under) opens as
  ConditioningAverage.
"""

from __future__ import annotations

from typing import Any

from app.interop import comfy_conditioning
from app.interop.comfy_fields import FieldReader

_AVERAGE = "ConditioningAverage"


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {"DiffusersLoader": comfy_class("loaders.checkpoint", {}, ("model", "clip", "vae"),
                                           ("model_path",)),
            _AVERAGE + " ": comfy_conditioning.comfy_classes(comfy_class)[_AVERAGE]}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: another class)."""
    if cls == _AVERAGE + " ":
        return comfy_conditioning.comfy_values(_AVERAGE, fields, note)
    if cls != "DiffusersLoader":
        return None
    folder = fields.text("model_path", "")
    note(f"DiffusersLoader: the diffusers folder {folder!r} is looked up among the checkpoints "
         "(move it to a checkpoints folder or give its full path)")
    return {"checkpoint": folder}


EXPORT_CLASSES: dict[str, str] = {}
EXPORT_INPUTS: dict[str, dict[str, str]] = {}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """Nothing is exported under these names."""
    return {}
