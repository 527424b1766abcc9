"""ComfyUI interop for the control nodes issue 14 added after the first mapping: the
DiffControlNetLoader (a "diff" ControlNet takes the model), SetUnionControlNetType, and what
ComfyUI cannot say (guess mode) named on export."""

from __future__ import annotations

from typing import Any

from app.engine.graph import Graph, NodeInstance
from app.interop.comfy_fields import FieldReader, show
from app.interop.model_names import file_name

# diffusers' guess mode scales the n down residuals by logspace(-1, 0, n + 1): base ** (n - i)
# with base = 10 ** (-1 / n) (12 residuals for SD 1.x/2.x, 9 for SDXL)
SOFT_BASE = {"sd": 10 ** (-1 / 12), "sdxl": 10 ** (-1 / 9)}
UNION_TYPES = ("auto", "openpose", "depth", "hed/pidi/scribble/ted",
               "canny/lineart/anime_lineart/mlsd", "normal", "segment", "tile", "repaint")


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "DiffControlNetLoader": comfy_class("loaders.diff_controlnet", {"model": "model"},
                                            ("control_net",), ("control_net_name",)),
        "SetUnionControlNetType": comfy_class("conditioning.union_controlnet_type",
                                              {"control_net": "control_net"}, ("control_net",),
                                              ("type",)),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "DiffControlNetLoader":
        return {"control_net": fields.text("control_net_name", "")}
    if cls != "SetUnionControlNetType":
        return None
    kind = fields.text("type", "auto")
    if kind not in UNION_TYPES:
        note(f"{cls}: type {show(kind)} is not a ControlNet-Union type here; using 'auto' "
             "(the net reads the hint without a type)")
        kind = "auto"
    return {"type": kind}


EXPORT_CLASSES = {"loaders.diff_controlnet": "DiffControlNetLoader",
                  "conditioning.union_controlnet_type": "SetUnionControlNetType"}
EXPORT_INPUTS = {"loaders.diff_controlnet": {"model": "model"},
                 "conditioning.union_controlnet_type": {"control_net": "control_net"}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "loaders.diff_controlnet":
        name = v.get("control_net")  # named as ComfyUI lists it: with its extension
        return {"control_net_name": file_name(name, "controlnet")[0]
                if isinstance(name, str) else name}
    return {"type": v.get("type", "auto")}


def export_problem(graph: Graph, node: NodeInstance) -> str | None:
    """Why a control node has no ComfyUI counterpart, or None."""
    if node.type == "conditioning.apply_controlnet" and node.values.get("guess_mode"):
        # Advanced-ControlNet's Scaled Soft Weights are the same arithmetic (base ** (n - i)
        # over the n down residuals, 1 for the middle one, the negative times
        # uncond_multiplier) but take a second node and a custom node pack: not exported
        return ("ComfyUI's ControlNetApplyAdvanced has no guess mode; in ComfyUI use "
                "Advanced-ControlNet's Apply Advanced ControlNet with Scaled Soft Weights "
                f"(base_multiplier {SOFT_BASE['sd']:.4f} for SD 1.x, {SOFT_BASE['sdxl']:.4f} "
                "for SDXL; uncond_multiplier 0), the same soft weights")
    return None
