"""ComfyUI interop for its post-processing nodes (comfy_extras/nodes_post_processing.py):
ImageBlend, ImageBlur, ImageSharpen and ImageQuantize onto ours (same widget names), both
ways. Older ImageSharpen files have no sigma (1 then); ImageQuantize's Bayer dithers are read
as Floyd-Steinberg, with a note."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from app.interop.comfy_table import Table, export_classes, export_inputs, table_classes
from pipelines.catalog import BLEND_MODES, QUANTIZE_DITHERS

_IMAGE = {"image": "image"}
_OUT = ("image",)
# ComfyUI class -> (our type, links (Comfy -> ours), outputs, widgets in UI order)
_TABLE: Table = {
    "ImageBlend": ("image.blend", {"image1": "image1", "image2": "image2"}, _OUT,
                   ("blend_factor", "blend_mode")),
    "ImageBlur": ("image.blur", _IMAGE, _OUT, ("blur_radius", "sigma")),
    "ImageSharpen": ("image.sharpen", _IMAGE, _OUT, ("sharpen_radius", "sigma", "alpha")),
    "ImageQuantize": ("image.quantize", _IMAGE, _OUT, ("colors", "dither")),
}
_NUMBERS = {"blend_factor": (0.5, 0.0, 1.0), "sigma": (1.0, 0.1, 10.0), "alpha": (1.0, 0.0, 5.0)}
_INTS = {"blur_radius": (1, 1, 31), "sharpen_radius": (1, 1, 31), "colors": (256, 1, 256)}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return table_classes(comfy_class, _TABLE)


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _TABLE:
        return None
    values: dict[str, Any] = {}
    for name in _TABLE[cls][3]:
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


EXPORT_CLASSES = export_classes(_TABLE)
EXPORT_INPUTS = export_inputs(_TABLE)


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    return {name: v.get(name) for name in _TABLE[EXPORT_CLASSES[node_type]][3]}
