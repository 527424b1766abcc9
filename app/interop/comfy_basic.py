"""ComfyUI interop for the small core nodes of nodes.py (issue 16): LatentFromBatch,
RepeatLatentBatch, LatentRotate, LatentFlip, LatentCrop, LatentBlend, ImageInvert,
ImageBatch, EmptyImage and LoadImageMask: classes, widget values and export back."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from app.interop.comfy_table import Table, export_classes, export_inputs, table_classes
from pipelines.catalog import LATENT_FLIPS, LATENT_ROTATIONS, MASK_CHANNELS

_SAMPLES = {"samples": "latent"}
# ComfyUI class -> (our type, links (Comfy -> ours), outputs, widgets in UI order)
_TABLE: Table = {
    "LatentFromBatch": ("latent.from_batch", _SAMPLES, ("latent",), ("batch_index", "length")),
    "RepeatLatentBatch": ("latent.repeat_batch", _SAMPLES, ("latent",), ("amount",)),
    "LatentRotate": ("latent.rotate", _SAMPLES, ("latent",), ("rotation",)),
    "LatentFlip": ("latent.flip", _SAMPLES, ("latent",), ("flip_method",)),
    "LatentCrop": ("latent.crop", _SAMPLES, ("latent",), ("width", "height", "x", "y")),
    "LatentBlend": ("latent.blend", {"samples1": "first", "samples2": "second"}, ("latent",),
                    ("blend_factor",)),
    "ImageInvert": ("hints.invert", {"image": "image"}, ("image",), ()),
    "ImageBatch": ("image.batch", {"image1": "image1", "image2": "image2"}, ("image",), ()),
    "EmptyImage": ("image.empty", {}, ("image",), ("width", "height", "batch_size", "color")),
    "LoadImageMask": ("image.load_mask", {}, ("mask",), ("image", "channel", None)),
}
# widget -> (default, lo, hi) of the integer widgets
_INTS = {"batch_index": (0, 0, 63), "length": (1, 1, 64), "amount": (1, 1, 64),
         "width": (512, 1, 16384), "height": (512, 1, 16384), "x": (0, 0, 16384),
         "y": (0, 0, 16384), "batch_size": (1, 1, 4096), "color": (0, 0, 0xFFFFFF)}
_CHOICES = {"rotation": LATENT_ROTATIONS, "flip_method": LATENT_FLIPS, "channel": MASK_CHANNELS}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return table_classes(comfy_class, _TABLE)


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _TABLE:
        return None
    values: dict[str, Any] = {}
    for name in _TABLE[cls][3]:
        if name in _INTS:
            default, lo, hi = _INTS[name]
            values[name] = fields.integer(name, default, lo, hi)
        elif name in _CHOICES:
            choice = fields.text(name, _CHOICES[name][0])
            if choice not in _CHOICES[name]:
                fields.fail(name, f"{show(choice)} is not one of {', '.join(_CHOICES[name])}")
            values[name] = choice
        elif name == "blend_factor":
            values[name] = fields.number(name, 0.5, 0.0, 1.0)
        elif name == "image":
            values["path"] = fields.text("image", "")
    if cls == "LatentBlend" and fields.text("blend_mode", "normal") != "normal":
        fields.fail("blend_mode", "only 'normal' exists in ComfyUI")
    return values


EXPORT_CLASSES = export_classes(_TABLE)
EXPORT_INPUTS = export_inputs(_TABLE)


def export_node(node_type: str, v: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(ComfyUI class, widget inputs) of a node of ours this module exports, else None."""
    cls = EXPORT_CLASSES.get(node_type)
    if cls is None:
        return None
    widgets = [name for name in _TABLE[cls][3] if name is not None]
    return cls, {name: v.get("path" if name == "image" else name) for name in widgets}
