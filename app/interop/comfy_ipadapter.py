"""ComfyUI interop for IP-Adapter (ComfyUI_IPAdapter_plus's custom nodes) and the Canny
preprocessor: classes, widget values with notes for what is approximated, the CLIP vision link
its apply nodes take from the unified loader's bundle, and export back."""

from __future__ import annotations

from typing import Any

from app.engine.graph import Edge, Graph
from app.interop.comfy_fields import FieldReader, show
from pipelines.sampling.ip_adapter_weights import COMBINE, EMBEDS_SCALING, WEIGHT_TYPES

_APPLY_LINKS = {"model": "model", "ipadapter": "ipadapter", "image": "image",
                "attn_mask": "attn_mask"}
# the simple IPAdapter node's weight types, as IPAdapter_plus maps them
_SIMPLE_TYPES = {"standard": "linear", "prompt is more important": "ease out",
                 "style transfer": "style transfer", "style transfer (SDXL)": "style transfer"}
_STYLE_COMPOSITION = ("weight_style", "weight_composition", "expand_style", "combine_embeds",
                      "start_at", "end_at", "embeds_scaling")


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "Canny": comfy_class("hints.canny", {"image": "image"}, ("image",),
                             ("low_threshold", "high_threshold")),
        "IPAdapterModelLoader": comfy_class("loaders.ip_adapter", {}, ("ipadapter",),
                                            ("ipadapter_file",)),
        "IPAdapterUnifiedLoader": comfy_class("loaders.ip_adapter_preset", {"model": "model"},
                                              ("model", "ipadapter"), ("preset",)),
        "IPAdapter": comfy_class("conditioning.apply_ip_adapter", _APPLY_LINKS, ("model",),
                                 ("weight", "start_at", "end_at", "weight_type")),
        "IPAdapterAdvanced": comfy_class(
            "conditioning.apply_ip_adapter", {**_APPLY_LINKS, "clip_vision": "clip_vision"},
            ("model",), ("weight", "weight_type", "combine_embeds", "start_at", "end_at",
                         "embeds_scaling")),
        "IPAdapterStyleComposition": comfy_class(
            "conditioning.apply_ip_adapter",
            {**_APPLY_LINKS, "image_style": "image", "image_composition": "image_composition",
             "clip_vision": "clip_vision"}, ("model",), _STYLE_COMPOSITION),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "Canny":
        return {"low_threshold": fields.number("low_threshold", 0.4),
                "high_threshold": fields.number("high_threshold", 0.8)}
    if cls == "IPAdapterModelLoader":
        return {"ipadapter": fields.text("ipadapter_file", "")}
    if cls == "IPAdapterUnifiedLoader":
        return {"preset": fields.text("preset", "STANDARD (medium strength)")}
    if cls not in ("IPAdapter", "IPAdapterAdvanced", "IPAdapterStyleComposition"):
        return None
    composition = 1.0
    if cls == "IPAdapterStyleComposition":  # IPAdapter_plus: the style image and weight lead
        weight_type = ("strong style and composition" if fields.flag("expand_style", False)
                       else "style and composition")
        composition = fields.number("weight_composition", 1.0)
    else:
        weight_type = fields.text("weight_type", "linear" if cls == "IPAdapterAdvanced" else
                                  "standard")
    if cls == "IPAdapter":
        weight_type = _SIMPLE_TYPES.get(weight_type, weight_type)
    if weight_type not in WEIGHT_TYPES:
        note(f"{cls}: weight_type {show(weight_type)} is not supported here; the weight is "
             "the same on every layer (linear)")
        weight_type = "linear"
    combine = fields.text("combine_embeds", "average" if cls == "IPAdapterStyleComposition"
                          else "concat")
    if combine not in COMBINE:
        note(f"{cls}: combine_embeds {show(combine)} is not supported here; using 'concat'")
        combine = "concat"
    scaling = fields.text("embeds_scaling", "V only")
    if scaling not in EMBEDS_SCALING:
        note(f"{cls}: embeds_scaling {show(scaling)} is not supported here; using 'V only'")
        scaling = "V only"
    weight = fields.number("weight_style" if cls == "IPAdapterStyleComposition" else "weight",
                           1.0)
    return {"weight": weight, "start_at": fields.number("start_at", 0.0),
            "end_at": fields.number("end_at", 1.0), "weight_type": weight_type,
            "combine_embeds": combine, "embeds_scaling": scaling,
            "weight_composition": composition}


def wire_clip_vision(graph: Graph, note: Any) -> None:
    """ComfyUI's apply nodes may take the CLIP vision model from the unified loader's IPADAPTER
    bundle; ours take it on a link: wire the preset loader's (or the only CLIP vision loader's)."""
    loaders = [n.id for n in graph.nodes.values() if n.type == "loaders.clip_vision"]
    for node in list(graph.nodes.values()):
        if node.type != "conditioning.apply_ip_adapter":
            continue
        incoming = graph.incoming(node.id)
        if "clip_vision" in incoming:
            continue
        adapter = incoming.get("ipadapter")
        if adapter is not None and graph.nodes[adapter.source].type == "loaders.ip_adapter_preset":
            graph.edges.append(Edge(adapter.source, "clip_vision", node.id, "clip_vision"))
        elif len(loaders) == 1:
            graph.edges.append(Edge(loaders[0], "clip_vision", node.id, "clip_vision"))
            note(f"node #{node.id} (IP-Adapter) had no CLIP vision input; the workflow's only "
                 "CLIP vision loader is used")


EXPORT_CLASSES = {"hints.canny": "Canny", "loaders.ip_adapter": "IPAdapterModelLoader",
                  "loaders.ip_adapter_preset": "IPAdapterUnifiedLoader",
                  "conditioning.apply_ip_adapter": "IPAdapterAdvanced"}
EXPORT_INPUTS = {"hints.canny": {"image": "image"},
                 "loaders.ip_adapter_preset": {"model": "model"},
                 "conditioning.apply_ip_adapter": {**_APPLY_LINKS, "clip_vision": "clip_vision"}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "hints.canny":
        return {"low_threshold": v.get("low_threshold"), "high_threshold": v.get("high_threshold")}
    if node_type == "loaders.ip_adapter":
        return {"ipadapter_file": v.get("ipadapter")}
    if node_type == "loaders.ip_adapter_preset":
        return {"preset": v.get("preset")}
    return {"weight": v.get("weight"), "weight_type": v.get("weight_type", "linear"),
            "combine_embeds": v.get("combine_embeds", "concat"),
            "start_at": v.get("start_at"), "end_at": v.get("end_at"),
            "embeds_scaling": v.get("embeds_scaling", "V only")}


def export_problem(graph: Graph, node: Any) -> str | None:
    """IPAdapterAdvanced takes no composition image and a composition weight of 1."""
    if node.type != "conditioning.apply_ip_adapter":
        return None
    if "image_composition" in graph.incoming(node.id):
        return "IPAdapterAdvanced takes no composition image (IPAdapterStyleComposition does)"
    if str(node.values.get("weight_type", "")).endswith("style and composition") and float(
            node.values.get("weight_composition", 1.0)) != 1.0:
        return "IPAdapterAdvanced's \"style and composition\" has a composition weight of 1"
    return None


def bundled_link(graph: Graph, node_id: str, ours: str) -> bool:
    """A link ComfyUI carries inside the IPADAPTER bundle (the preset loader's CLIP vision)."""
    edge = graph.incoming(node_id).get(ours)
    return (ours == "clip_vision" and edge is not None
            and graph.nodes[edge.source].type == "loaders.ip_adapter_preset")
