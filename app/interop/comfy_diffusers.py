"""ComfyUI interop for DiffusersLoader (deprecated there): a diffusers model folder, named
relative to ComfyUI's ``models/diffusers``, opens as our Load Checkpoint, which reads diffusers
folders itself. Import only: Load Checkpoint exports as CheckpointLoaderSimple."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {"DiffusersLoader": comfy_class("loaders.checkpoint", {}, ("model", "clip", "vae"),
                                           ("model_path",))}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for DiffusersLoader's widget (None: another class)."""
    if cls != "DiffusersLoader":
        return None
    folder = fields.text("model_path", "")
    note(f"DiffusersLoader: the diffusers folder {folder!r} is looked up among the checkpoints "
         "(move it to a checkpoints folder or give its full path)")
    return {"checkpoint": folder}


EXPORT_CLASSES: dict[str, str] = {}
EXPORT_INPUTS: dict[str, dict[str, str]] = {}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """Nothing is exported as DiffusersLoader."""
    return {}
