"""ComfyUI interop for GLIGEN: GLIGENLoader (a GLIGEN file) and GLIGENTextBoxApply (a phrase in
a box added to a conditioning) onto our Load GLIGEN and GLIGEN Textbox Apply, both ways.
ComfyUI grounds during every step (our 'steps' 1.0) and needs the file linked; a GLIGEN
checkpoint without a file, or fewer grounding steps, have no ComfyUI counterpart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.interop.comfy_fields import FieldReader
from app.interop.model_names import file_name

if TYPE_CHECKING:
    from app.engine.graph import Graph, NodeInstance

_LINKS = {"conditioning_to": "conditioning", "clip": "clip", "gligen_textbox_model": "gligen"}
_BOX = ("width", "height", "x", "y")


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "GLIGENLoader": comfy_class("loaders.gligen", {}, ("gligen",), ("gligen_name",)),
        "GLIGENTextBoxApply": comfy_class("conditioning.gligen_textbox", _LINKS,
                                          ("conditioning",), ("text", *_BOX)),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "GLIGENLoader":
        return {"gligen": fields.text("gligen_name", "")}
    if cls == "GLIGENTextBoxApply":
        values: dict[str, Any] = {"text": fields.text("text", "")}
        for name in _BOX:
            low = 0 if name in ("x", "y") else 8
            values[name] = fields.integer(name, 0 if low == 0 else 64, low, 16384)
        values["steps"] = 1.0
        return values
    return None


EXPORT_CLASSES = {"loaders.gligen": "GLIGENLoader",
                  "conditioning.gligen_textbox": "GLIGENTextBoxApply"}
EXPORT_INPUTS = {"loaders.gligen": {},
                 "conditioning.gligen_textbox": {ours: comfy for comfy, ours in _LINKS.items()}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "loaders.gligen":
        name = v.get("gligen")
        return {"gligen_name": file_name(name, "gligen")[0] if isinstance(name, str) else name}
    return {"text": v.get("text"), **{name: v.get(name) for name in _BOX}}


def export_problem(graph: Graph, node: NodeInstance) -> str | None:
    """Why a GLIGEN Textbox Apply has no ComfyUI counterpart, or None."""
    if node.type != "conditioning.gligen_textbox":
        return None
    if "gligen" not in graph.incoming(node.id):
        return ("ComfyUI's GLIGENTextBoxApply needs a GLIGEN file: link a Load GLIGEN "
                "(a GLIGEN checkpoint alone does not export)")
    if node.values.get("steps", 1.0) < 1.0:
        return "ComfyUI's GLIGENTextBoxApply grounds every step (steps 1.0)"
    return None
