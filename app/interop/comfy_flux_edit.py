"""ComfyUI interop for Flux.1 image editing (issue 13): ReferenceLatent (Kontext's reference
image on a conditioning) and FluxKontextImageScale. Flux Fill's InpaintModelConditioning is
comfy_imageops'. Neither class has widgets, so the links are the whole mapping."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader

# ComfyUI class -> (our node type, links ComfyUI input -> ours, outputs)
_TABLE: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "ReferenceLatent": ("conditioning.reference_latent",
                        {"conditioning": "conditioning", "latent": "latent"}, ("conditioning",)),
    "FluxKontextImageScale": ("image.flux_kontext_scale", {"image": "image"}, ("image",)),
}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {cls: comfy_class(ours, links, outputs, ())
            for cls, (ours, links, outputs) in _TABLE.items()}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets: none (None: not one of them)."""
    return {} if cls in _TABLE else None


EXPORT_CLASSES = {ours: cls for cls, (ours, _, _) in _TABLE.items()}
EXPORT_INPUTS = {ours: {v: k for k, v in links.items()} for ours, links, _ in _TABLE.values()}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types: none."""
    return {}
