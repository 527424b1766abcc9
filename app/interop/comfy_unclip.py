"""ComfyUI interop for SD 2.1 unCLIP: unCLIPCheckpointLoader (model, CLIP, VAE and CLIP vision
from one checkpoint) and unCLIPConditioning (a CLIP vision output added to a conditioning with
a strength and a noise augmentation; several stack), both ways. Our unCLIP Conditioning follows
ComfyUI's strength and stacking and diffusers' noise and statistics (see
``pipelines.sampling.unclip_adm``)."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader
from app.interop.model_names import file_name


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "unCLIPCheckpointLoader": comfy_class(
            "loaders.unclip_checkpoint", {}, ("model", "clip", "vae", "clip_vision"),
            ("ckpt_name",)),
        "unCLIPConditioning": comfy_class(
            "conditioning.unclip",
            {"conditioning": "conditioning", "clip_vision_output": "embedding"},
            ("conditioning",), ("strength", "noise_augmentation")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "unCLIPCheckpointLoader":
        return {"checkpoint": fields.text("ckpt_name", "")}
    if cls == "unCLIPConditioning":
        return {"strength": fields.number("strength", 1.0),
                "noise_augmentation": fields.number("noise_augmentation", 0.0)}
    return None


EXPORT_CLASSES = {"loaders.unclip_checkpoint": "unCLIPCheckpointLoader",
                  "conditioning.unclip": "unCLIPConditioning"}
EXPORT_INPUTS = {"conditioning.unclip": {"conditioning": "conditioning",
                                         "embedding": "clip_vision_output"}}


def export_values(node_type: str, v: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types."""
    if node_type == "loaders.unclip_checkpoint":
        name = v.get("checkpoint")  # named as ComfyUI lists it: with its extension
        return {"ckpt_name": file_name(name, "checkpoints")[0] if isinstance(name, str) else name}
    return {"strength": v.get("strength"), "noise_augmentation": v.get("noise_augmentation")}
