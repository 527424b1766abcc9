"""ComfyUI interop for its mask nodes (comfy_extras/nodes_mask.py): MaskToImage, ImageToMask,
SolidMask, InvertMask, ThresholdMask, CropMask, MaskComposite, FeatherMask and GrowMask onto
our mask nodes (same widget names), both ways."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from app.interop.comfy_table import Table, export_classes, export_inputs, table_classes
from pipelines.catalog import IMAGE_MASK_CHANNELS, MASK_COMPOSITE_OPERATIONS

_MASK = {"mask": "mask"}
# ComfyUI class -> (our type, links (Comfy -> ours), outputs, widgets in UI order)
_TABLE: Table = {
    "MaskToImage": ("mask.to_image", _MASK, ("image",), ()),
    "ImageToMask": ("mask.from_image", {"image": "image"}, ("mask",), ("channel",)),
    "SolidMask": ("mask.solid", {}, ("mask",), ("value", "width", "height")),
    "InvertMask": ("mask.invert", _MASK, ("mask",), ()),
    "ThresholdMask": ("mask.threshold", _MASK, ("mask",), ("value",)),
    "CropMask": ("mask.crop", _MASK, ("mask",), ("x", "y", "width", "height")),
    "MaskComposite": ("mask.composite", {"destination": "destination", "source": "source"},
                      ("mask",), ("x", "y", "operation")),
    "FeatherMask": ("mask.feather", _MASK, ("mask",), ("left", "top", "right", "bottom")),
    "GrowMask": ("mask.grow", _MASK, ("mask",), ("expand", "tapered_corners")),
}
_LIMIT = 16384
_INTS = {"width": (512, 1), "height": (512, 1), "expand": (0, -_LIMIT)}  # default, minimum
_CHOICES = {"channel": IMAGE_MASK_CHANNELS, "operation": MASK_COMPOSITE_OPERATIONS}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return table_classes(comfy_class, _TABLE)


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _TABLE:
        return None
    values: dict[str, Any] = {}
    for name in _TABLE[cls][3]:
        if name in _CHOICES:
            choice = fields.text(name, _CHOICES[name][0])
            if choice not in _CHOICES[name]:
                fields.fail(name, f"{show(choice)} is not one of {', '.join(_CHOICES[name])}")
            values[name] = choice
        elif name == "value":
            values[name] = fields.number(name, 1.0 if cls == "SolidMask" else 0.5, 0.0, 1.0)
        elif name == "tapered_corners":
            values[name] = fields.flag(name, True)
        else:
            default, low = _INTS.get(name, (0, 0))
            values[name] = fields.integer(name, default, low, _LIMIT)
    return values


EXPORT_CLASSES = export_classes(_TABLE)
EXPORT_INPUTS = export_inputs(_TABLE)


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    return {name: v.get(name) for name in _TABLE[EXPORT_CLASSES[node_type]][3]}
