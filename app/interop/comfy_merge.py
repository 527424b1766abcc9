"""ComfyUI interop for model merging (comfy_extras/nodes_model_merging*.py): ModelMergeSimple,
ModelMergeAdd, ModelMergeSubtract, CLIPMergeSimple/Add/Subtract onto our Merge Models / Merge
Text Encoders (a mode and a ratio), and ModelMergeBlocks, ModelMergeSD1/SD2/SDXL onto Merge
Models by Block (the per-block widgets become its ``blocks`` text), both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.interop.comfy_fields import FieldReader
from pipelines.errors import StudioError

if TYPE_CHECKING:
    from app.engine.graph import Graph, NodeInstance

_MODELS = {"model1": "model1", "model2": "model2"}
_CLIPS = {"clip1": "clip1", "clip2": "clip2"}
# ComfyUI class -> (our type, mode, the widget holding the ratio)
_SIMPLE = {
    "ModelMergeSimple": ("model.merge", "weighted", "ratio"),
    "ModelMergeAdd": ("model.merge", "add", None),
    "ModelMergeSubtract": ("model.merge", "subtract", "multiplier"),
    "CLIPMergeSimple": ("model.merge_text_encoders", "weighted", "ratio"),
    "CLIPMergeAdd": ("model.merge_text_encoders", "add", None),
    "CLIPMergeSubtract": ("model.merge_text_encoders", "subtract", "multiplier"),
}
_UNET = ("time_embed.", "label_emb.")
# the per-block widgets of the model-specific block mergers, in their UI order
_BLOCKS = {
    "ModelMergeSDXL": (*_UNET, *(f"input_blocks.{i}" for i in range(9)),
                       *(f"middle_block.{i}" for i in range(3)),
                       *(f"output_blocks.{i}" for i in range(9)), "out."),
    "ModelMergeSD1": (*_UNET, *(f"input_blocks.{i}." for i in range(12)),
                      *(f"middle_block.{i}." for i in range(3)),
                      *(f"output_blocks.{i}." for i in range(12)), "out."),
}
_BLOCKS["ModelMergeSD2"] = _BLOCKS["ModelMergeSD1"]


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    classes = {cls: comfy_class(type_id, _CLIPS if "CLIP" in cls else _MODELS,
                                ("clip",) if "CLIP" in cls else ("model",),
                                (widget,) if widget else ())
               for cls, (type_id, _mode, widget) in _SIMPLE.items()}
    classes["ModelMergeBlocks"] = comfy_class("model.merge_blocks", _MODELS, ("model",),
                                              ("input", "middle", "out"))
    for cls, widgets in _BLOCKS.items():
        classes[cls] = comfy_class("model.merge_blocks", _MODELS, ("model",), widgets)
    return classes


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls in _SIMPLE:
        _type, mode, widget = _SIMPLE[cls]
        ratio = fields.number(widget, 1.0, -10.0, 10.0) if widget else 1.0
        return {"mode": mode, "ratio": ratio}
    if cls == "ModelMergeBlocks":
        return {k: fields.number(k, 1.0, 0.0, 1.0) for k in ("input", "middle", "out")}
    if cls in _BLOCKS:
        ratios = {name: fields.number(name, 1.0, 0.0, 1.0) for name in _BLOCKS[cls]}
        first = ratios[_BLOCKS[cls][0]]  # ComfyUI's ratio for layers no widget names
        return {"input": first, "middle": first, "out": first,
                "blocks": ", ".join(f"{name}={value:g}" for name, value in ratios.items())}
    return None


EXPORT_CLASSES = {"model.merge": "ModelMergeSimple",
                  "model.merge_text_encoders": "CLIPMergeSimple",
                  "model.merge_blocks": "ModelMergeBlocks"}
EXPORT_INPUTS = {"model.merge": _MODELS, "model.merge_text_encoders": _CLIPS,
                 "model.merge_blocks": _MODELS}


def _block_class(blocks: str) -> str | None:
    """The model-specific ComfyUI class whose widgets name every ratio in ``blocks``."""
    from pipelines.model_merge import parse_block_ratios

    try:
        names = set(parse_block_ratios(blocks))
    except StudioError:  # not name=number: no class names it
        return None
    return next((cls for cls, widgets in _BLOCKS.items() if names <= set(widgets)), None)


def export_node(node_type: str, v: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(ComfyUI class, widget inputs) of a merge node, else None."""
    if node_type in ("model.merge", "model.merge_text_encoders"):
        clip = node_type == "model.merge_text_encoders"
        mode, ratio = v.get("mode", "weighted"), v.get("ratio", 1.0)
        cls = next(c for c, (t, m, _w) in _SIMPLE.items() if m == mode and ("CLIP" in c) == clip)
        widget = _SIMPLE[cls][2]
        return cls, ({widget: ratio} if widget else {})
    if node_type != "model.merge_blocks":
        return None
    rules = {k: v.get(k, 1.0) for k in ("input", "middle", "out")}
    if not (v.get("blocks") or "").strip():
        return "ModelMergeBlocks", rules
    from pipelines.model_merge import parse_block_ratios

    cls = _block_class(v["blocks"]) or "ModelMergeSDXL"
    given = parse_block_ratios(v["blocks"])

    def ours(name: str) -> float:  # the ratio our node gives that block
        rule = next((r for r in ("middle", "out", "input") if name.startswith(r)), "input")
        return given.get(name, rules[rule] if name not in _UNET else rules["input"])

    return cls, {name: ours(name) for name in _BLOCKS[cls]}


def export_problem(graph: Graph, node: NodeInstance) -> str | None:
    """Per-block ratios no ComfyUI block merger names."""
    blocks = (node.values.get("blocks") or "").strip()
    if node.type == "model.merge_blocks" and blocks and _block_class(blocks) is None:
        return ("its per-block ratios name layers ComfyUI's ModelMergeSD1/SDXL do not have; "
                "use their names (e.g. input_blocks.4 for SDXL, input_blocks.4. for SD1)")
    return None
