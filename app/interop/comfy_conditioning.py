"""ComfyUI interop for the conditioning operations (ConditioningCombine, Concat, Average,
SetArea, SetAreaPercentage, SetAreaStrength, SetMask, ZeroOut, SetTimestepRange) and
CLIPSetLastLayer: classes, widget values and export back. Our nodes use ComfyUI's input
names, so the links and widgets map one to one."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show

_COND = {"conditioning": "conditioning"}
_PAIR = {"conditioning_to": "conditioning_to", "conditioning_from": "conditioning_from"}
_BOX = (("width", "int", 64), ("height", "int", 64), ("x", "int", 0), ("y", "int", 0),
        ("strength", "float", 1.0))
_FRACTION_BOX = (("width", "float", 1.0), ("height", "float", 1.0), ("x", "float", 0.0),
                 ("y", "float", 0.0), ("strength", "float", 1.0))

# ComfyUI class -> (our node type, links, outputs, widgets as (name, kind, default))
_TABLE: dict[str, tuple[str, dict[str, str], tuple[str, ...],
                        tuple[tuple[str, str, Any], ...]]] = {
    "ConditioningCombine": ("conditioning.combine", {"conditioning_1": "conditioning_1",
                                                     "conditioning_2": "conditioning_2"},
                            ("conditioning",), ()),
    "ConditioningConcat": ("conditioning.concat", _PAIR, ("conditioning",), ()),
    "ConditioningAverage": ("conditioning.average", _PAIR, ("conditioning",),
                            (("conditioning_to_strength", "float", 1.0),)),
    "ConditioningSetArea": ("conditioning.set_area", _COND, ("conditioning",), _BOX),
    "ConditioningSetAreaPercentage": ("conditioning.set_area_percentage", _COND,
                                      ("conditioning",), _FRACTION_BOX),
    "ConditioningSetAreaStrength": ("conditioning.set_area_strength", _COND, ("conditioning",),
                                    (("strength", "float", 1.0),)),
    "ConditioningSetMask": ("conditioning.set_mask", {**_COND, "mask": "mask"}, ("conditioning",),
                            (("strength", "float", 1.0), ("set_cond_area", "choice", "default"))),
    "ConditioningZeroOut": ("conditioning.zero_out", _COND, ("conditioning",), ()),
    "ConditioningSetTimestepRange": ("conditioning.set_timestep_range", _COND, ("conditioning",),
                                     (("start", "float", 0.0), ("end", "float", 1.0))),
    "CLIPSetLastLayer": ("conditioning.clip_set_last_layer", {"clip": "clip"}, ("clip",),
                         (("stop_at_clip_layer", "int", -1),)),
}
_MASK_AREAS = ("default", "mask bounds")


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {cls: comfy_class(ours, links, outputs, tuple(name for name, _, _ in widgets))
            for cls, (ours, links, outputs, widgets) in _TABLE.items()}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls not in _TABLE:
        return None
    values: dict[str, Any] = {}
    for name, kind, default in _TABLE[cls][3]:
        if kind == "int":
            values[name] = fields.integer(name, default)
        elif kind == "float":
            values[name] = fields.number(name, default)
        else:
            value = fields.text(name, default)
            if value not in _MASK_AREAS:
                fields.fail(name, f"{show(value)} is not one of: {', '.join(_MASK_AREAS)}")
            values[name] = value
    return values


EXPORT_CLASSES = {ours: cls for cls, (ours, _, _, _) in _TABLE.items()}
EXPORT_INPUTS = {ours: {v: k for k, v in links.items()} for ours, links, _, _ in _TABLE.values()}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types (same names)."""
    widgets = _TABLE[EXPORT_CLASSES[node_type]][3]
    return {name: v.get(name, default) for name, _, default in widgets}
