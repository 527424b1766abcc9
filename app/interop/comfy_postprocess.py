"""ComfyUI interop for its post-processing nodes (comfy_extras/nodes_post_processing.py):
ImageBlend, ImageBlur, ImageSharpen and ImageQuantize onto ours (same widget names), both
ways. Older ImageSharpen files have no sigma (1 then); ImageQuantize's Bayer dithers are read
as Floyd-Steinberg, with a note."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from pipelines.catalog import BLEND_MODES, QUANTIZE_DITHERS

_IMAGE = {"image": "image"}
# ComfyUI class -> (our type, links (Comfy -> ours), widgets in UI order)
_TABLE: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "ImageBlend": ("image.blend", {"image1": "image1", "image2": "image2"},
                   ("blend_factor", "blend_mode")),
    "ImageBlur": ("image.blur", _IMAGE, ("blur_radius", "sigma")),
    "ImageSharpen": ("image.sharpen", _IMAGE, ("sharpen_radius", "sigma", "alpha")),
    "ImageQuantize": ("image.quantize", _IMAGE, ("colors", "dither")),
}
_NUMBERS = {"blend_factor": (0.5, 0.0, 1.0), "sigma": (1.0, 0.1, 10.0), "alpha": (1.0, 0.0, 5.0)}
_INTS = {"blur_radius": (1, 1, 31), "sharpen_radius": (1, 1, 31), "colors": (256, 1, 256)}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {cls: comfy_class(type_id, links, ("image",), widgets)
            for cls, (type_id, links, widgets) in _TABLE.items()}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _TABLE:
        return None
    values: dict[str, Any] = {}
    for name in _TABLE[cls][2]:
        if name in _NUMBERS:
            values[name] = fields.number(name, *_NUMBERS[name])
        elif name in _INTS:
            values[name] = fields.integer(name, *_INTS[name])
        elif name == "blend_mode":
            mode = fields.text(name, "normal")
            if mode not in BLEND_MODES:
                fields.fail(name, f"{show(mode)} is not one of {', '.join(BLEND_MODES)}")
            values[name] = mode
        else:  # dither
            dither = fields.text(name, "none")
            if dither not in QUANTIZE_DITHERS:
                if not dither.startswith("bayer"):
                    fields.fail(name, f"{show(dither)} is not a dither ComfyUI has")
                note(f"{cls}: dither {show(dither)} is not supported here; using "
                     "'floyd-steinberg'")
                dither = "floyd-steinberg"
            values[name] = dither
    return values


EXPORT_CLASSES = {type_id: cls for cls, (type_id, _links, _widgets) in _TABLE.items()}
EXPORT_INPUTS = {type_id: {ours: comfy for comfy, ours in links.items()}
                 for type_id, links, _widgets in _TABLE.values()}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    return {name: v.get(name) for name in _TABLE[EXPORT_CLASSES[node_type]][2]}
