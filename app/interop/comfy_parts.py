"""ComfyUI interop for models kept in parts and the SD3 nodes: UNETLoader, CLIPLoader,
DualCLIPLoader, TripleCLIPLoader (our Load Diffusion Model / Load Text Encoders),
CLIPTextEncodeSD3, ModelSamplingSD3 and ModelSamplingAuraFlow (our Model Sampling (SD3)) and
EmptySD3LatentImage (our Empty Latent, which follows the model's latent channels): classes,
widget values with a note for what is approximated, and export back."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show
from app.interop.model_names import file_name

_TEXT_LOADERS = ("CLIPLoader", "DualCLIPLoader", "TripleCLIPLoader")
_TEXT_NAMES = ("clip_name1", "clip_name2", "clip_name3")
# ComfyUI weight_dtype values we take as another (fp8 "fast" is a matmul speed-up on new GPUs)
_NEAREST_DTYPES = {"fp8_e4m3fn_fast": "fp8_e4m3fn"}
_SHIFT_DEFAULT = {"ModelSamplingSD3": 3.0, "ModelSamplingAuraFlow": 1.73}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    text = "loaders.text_encoders"
    return {
        "UNETLoader": comfy_class("loaders.diffusion_model", {}, ("model",),
                                  ("unet_name", "weight_dtype")),
        "CLIPLoader": comfy_class(text, {}, ("clip",), ("clip_name", "type", "device")),
        "DualCLIPLoader": comfy_class(text, {}, ("clip",),
                                      ("clip_name1", "clip_name2", "type", "device")),
        "TripleCLIPLoader": comfy_class(text, {}, ("clip",), _TEXT_NAMES),
        "CLIPTextEncodeSD3": comfy_class(
            "conditioning.text_encode_sd3", {"clip": "clip"}, ("conditioning",),
            ("clip_l", "clip_g", "t5xxl", "empty_padding")),
        "ModelSamplingSD3": comfy_class("model.sampling_sd3", {"model": "model"}, ("model",),
                                        ("shift",)),
        "ModelSamplingAuraFlow": comfy_class("model.sampling_sd3", {"model": "model"},
                                             ("model",), ("shift",)),
        "EmptySD3LatentImage": comfy_class("latent.empty", {}, ("latent",),
                                           ("width", "height", "batch_size")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    if cls == "UNETLoader":
        dtype = fields.text("weight_dtype", "default")
        if dtype in _NEAREST_DTYPES:
            note(f"{cls}: weight_dtype {show(dtype)} is taken as {_NEAREST_DTYPES[dtype]!r} "
                 "(fp8 storage; the fast fp8 matmul is not used here)")
        return {"unet_name": fields.text("unet_name", ""),
                "weight_dtype": _NEAREST_DTYPES.get(dtype, dtype)}
    if cls in _TEXT_LOADERS:
        return _text_loader(cls, fields, note)
    if cls == "CLIPTextEncodeSD3":
        prompts = {k: fields.text(k, "") for k in ("clip_l", "clip_g", "t5xxl")}
        padding = fields.text("empty_padding", "none")
        if padding == "none" and any(not p for p in prompts.values()):
            note(f"{cls}: empty_padding 'none' is not supported here; an empty prompt is "
                 "encoded as the empty text (as 'empty_prompt' and diffusers do)")
        return prompts
    if cls in _SHIFT_DEFAULT:
        if cls == "ModelSamplingAuraFlow":
            note(f"{cls}: taken as Model Sampling (SD3) with the same shift (the flow time "
                 "shift is the same; the model keeps its own timestep scale)")
        return {"shift": fields.number("shift", _SHIFT_DEFAULT[cls])}
    if cls == "EmptySD3LatentImage":
        return {"width": fields.integer("width", 1024), "height": fields.integer("height", 1024),
                "batch_size": fields.integer("batch_size", 1)}
    return None


def _text_loader(cls: str, fields: FieldReader, note: Any) -> dict[str, Any]:
    names = {"CLIPLoader": ("clip_name",), "DualCLIPLoader": _TEXT_NAMES[:2]}.get(cls, _TEXT_NAMES)
    values = dict.fromkeys(_TEXT_NAMES, "")
    values.update({ours: fields.text(theirs, "")
                   for ours, theirs in zip(_TEXT_NAMES, names, strict=False)})
    kind = "sd3" if cls == "TripleCLIPLoader" else fields.text("type", "sd3")
    kind = FROM_COMFY_TEXT_TYPES.get(kind, kind)
    from pipelines.families import text_file_types

    if kind not in text_file_types():
        note(f"{cls}: type {show(kind)} is not supported here (only "
             f"{', '.join(text_file_types())}); the node will ask for another")
    if fields.text("device", "default") != "default":
        note(f"{cls}: device {show(fields.text('device', ''))} is not used here; text "
             "encoders are placed by the run's VRAM mode (T5 leaves the GPU after encoding)")
    return {**values, "type": kind}


# our Load Text Encoders types ComfyUI names otherwise (schnell's files are its "flux")
COMFY_TEXT_TYPES = {"flux_schnell": "flux", "sd1": "stable_diffusion"}
FROM_COMFY_TEXT_TYPES = {"stable_diffusion": "sd1"}
EXPORT_TYPES = ("loaders.diffusion_model", "loaders.text_encoders",
                "conditioning.text_encode_sd3", "model.sampling_sd3")
EXPORT_CLASSES = {t: "(by its values)" for t in EXPORT_TYPES}  # export_node names the class
EXPORT_INPUTS = {"conditioning.text_encode_sd3": {"clip": "clip"},
                 "model.sampling_sd3": {"model": "model"}}


def export_node(node_type: str, v: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(ComfyUI class, widget inputs) of one of ``EXPORT_TYPES``' node types, else None."""
    if node_type not in EXPORT_TYPES:
        return None
    if node_type == "loaders.diffusion_model":
        return "UNETLoader", {"unet_name": _file(v.get("unet_name"), "diffusion_models"),
                              "weight_dtype": v.get("weight_dtype", "default")}
    if node_type == "loaders.text_encoders":
        names = [_file(v.get(n), "text_encoders") for n in _TEXT_NAMES if v.get(n)]
        kind = COMFY_TEXT_TYPES.get(v.get("type", "sd3"), v.get("type", "sd3"))
        if len(names) == 3:
            return "TripleCLIPLoader", dict(zip(_TEXT_NAMES, names, strict=True))
        if len(names) == 2:
            return "DualCLIPLoader", {"clip_name1": names[0], "clip_name2": names[1],
                                      "type": kind, "device": "default"}
        return "CLIPLoader", {"clip_name": names[0] if names else "", "type": kind,
                              "device": "default"}
    if node_type == "conditioning.text_encode_sd3":
        return "CLIPTextEncodeSD3", {**{k: v.get(k, "") for k in ("clip_l", "clip_g", "t5xxl")},
                                     "empty_padding": "empty_prompt"}
    return "ModelSamplingSD3", {"shift": v.get("shift", 3.0)}


def _file(name: Any, kind: str) -> Any:
    """A model named as ComfyUI lists it in models/``kind``: the file name with its extension."""
    return file_name(name, kind)[0] if isinstance(name, str) else name
