"""ComfyUI interop for latent files: SaveLatent and LoadLatent (``.latent`` safetensors files)
onto our Save Latent and Load Latent, both ways. ComfyUI converts a file's latents with the
sampling model's latent format; ours does it when the file is read, with the family the file
records or its channels tell ('family' stays "auto" on import and is dropped on export)."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "SaveLatent": comfy_class("latent.save", {"samples": "latent"}, (),
                                  ("filename_prefix",)),
        "LoadLatent": comfy_class("latent.load", {}, ("latent",), ("latent",)),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "SaveLatent":
        # ComfyUI's prefix may name a subfolder ("latents/ComfyUI"): ours saves flat
        prefix = fields.text("filename_prefix", "latents/ComfyUI").replace("/", "_")
        return {"filename_prefix": prefix, "family": "auto"}
    if cls == "LoadLatent":
        return {"path": fields.text("latent", ""), "family": "auto"}
    return None


EXPORT_CLASSES = {"latent.save": "SaveLatent", "latent.load": "LoadLatent"}
EXPORT_INPUTS = {"latent.save": {"latent": "samples"}, "latent.load": {}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "latent.save":
        return {"filename_prefix": v.get("filename_prefix")}
    return {"latent": v.get("path")}
