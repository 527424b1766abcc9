"""ComfyUI widget values -> ours, per node class, with a note for everything approximated."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_custom import advanced_values
from app.interop.comfy_custom import comfy_values as custom_values
from app.interop.comfy_fields import FieldReader, show
from app.interop.comfy_mappings import comfy_values as mapped_values
from app.interop.comfy_names import (
    IMAGE_METHODS,
    LATENT_METHODS,
    NEAREST_SAMPLERS,
    NEAREST_SCHEDULERS,
    PREDICTIONS,
    SAMPLERS,
    SCHEDULERS,
    to_ours,
)

MAX_SEED = 2**63 - 1
COMFY_MAX_SEED = 2**64 - 1  # ComfyUI's seeds go up to 0xffffffffffffffff


# Flux.1 classes whose widgets are our input names: (name, default)
FLUX_WIDGETS: dict[str, tuple[tuple[str, Any], ...]] = {
    "FluxGuidance": (("guidance", 3.5),),
    "CLIPTextEncodeFlux": (("clip_l", ""), ("t5xxl", ""), ("guidance", 3.5)),
    "ModelSamplingFlux": (("max_shift", 1.15), ("base_shift", 0.5), ("width", 1024),
                          ("height", 1024)),
}


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any]:
    """Our values for a ComfyUI node's widget inputs.

    Raises:
        WorkflowError: a value of the wrong type (ComfyUI itself would refuse it).
    """
    text, integer, number = fields.text, fields.integer, fields.number
    if (values := mapped_values(cls, fields, note)) is not None:  # comfy_mappings.MAPPINGS
        return values

    def named(name: str, exact: dict[str, str], nearest: dict[str, str], what: str) -> str:
        ours, why = to_ours(name, exact, nearest, "euler" if what == "sampler" else "normal")
        if why:
            note(f"{cls}: {why}")
        return ours

    def sampler_name(name: str) -> str:
        return named(name, SAMPLERS, NEAREST_SAMPLERS, "sampler")

    def schedule_name(name: str) -> str:
        return named(name, SCHEDULERS, NEAREST_SCHEDULERS, "schedule")

    if (values := custom_values(cls, fields, note, sampler_name, schedule_name)) is not None:
        if values.get("seed", 0) > MAX_SEED:
            note(f"{cls}: seed {values['seed']} is above {MAX_SEED}; using "
                 f"{values['seed'] % (MAX_SEED + 1)}")
            values["seed"] %= MAX_SEED + 1
        return values
    if cls in ("CheckpointLoaderSimple", "CheckpointLoader"):
        if cls == "CheckpointLoader" and text("config_name", ""):
            note(f"{cls}: config {show(text('config_name', ''))} is not needed here (the "
                 "model's layout is read from the file); ignored")
        return {"checkpoint": text("ckpt_name", "")}
    if cls == "CLIPTextEncode":
        return {"text": text("text", "")}
    if cls in FLUX_WIDGETS:  # Flux.1: the same names on both sides
        return {k: (text(k, "") if k in ("clip_l", "t5xxl") else integer(k, 1024)
                    if k in ("width", "height") else number(k, default))
                for k, default in FLUX_WIDGETS[cls] if k in fields}
    if cls == "EmptyLatentImage":
        return {k: integer(k, 0) for k in ("width", "height", "batch_size") if k in fields}
    if cls in ("KSampler", "KSamplerAdvanced"):
        return sampler_values(cls, fields, note)
    if cls == "SaveImage":
        return {"filename_prefix": text("filename_prefix", "ComfyUI")}
    if cls == "LoadImage":
        return {"path": text("image", "")}
    if cls == "UpscaleModelLoader":
        return {"model": text("model_name", "")}
    if cls == "CLIPVisionLoader":
        return {"clip_vision": text("clip_name", "")}
    if cls == "CLIPVisionEncode":  # older files have no crop widget: center, as then
        crop = text("crop", "center")
        if crop not in ("center", "none"):
            note(f"{cls}: crop {show(crop)} is not supported here; the image is center-cropped")
        return {"crop": crop if crop == "none" else "center"}
    if cls in ("ControlNetLoader", "DiffControlNetLoader"):
        return {"control_net": text("control_net_name", "")}
    if cls in ("ControlNetApply", "ControlNetApplyAdvanced"):
        return {"strength": number("strength", 1.0), "start_percent": number("start_percent", 0.0),
                "end_percent": number("end_percent", 1.0)}
    if cls == "VAELoader":
        return {"vae": text("vae_name", "")}
    if cls == "VAEDecodeTiled":  # its overlap is fixed here (a quarter of the tile)
        return {"tiling": "always", "tile_size": integer("tile_size", 512)}
    if cls == "VAEEncodeForInpaint":
        return {"grow_mask_by": integer("grow_mask_by", 6)}
    if cls == "RescaleCFG":
        return {"prediction": "auto", "zero_terminal_snr": "auto",
                "cfg_rescale": number("multiplier", 0.7)}
    if cls == "ModelSamplingDiscrete":
        sampling = text("sampling", "eps")
        if sampling not in PREDICTIONS:
            note(f"{cls}: sampling {show(sampling)} is not supported here; the model's own "
                 f"is used")
        return {"prediction": PREDICTIONS.get(sampling, "auto"),
                "zero_terminal_snr": "on" if fields.flag("zsnr", False) else "off"}
    if cls in ("LoraLoader", "LoraLoaderModelOnly"):  # model only: no clip, strength 0
        return {"lora": text("lora_name", ""),
                "strength_model": number("strength_model", 1.0),
                "strength_clip": number("strength_clip", 1.0) if cls == "LoraLoader" else 0.0}
    if cls in ("LatentUpscale", "LatentUpscaleBy", "ImageScale", "ImageScaleBy"):
        methods = LATENT_METHODS if cls.startswith("Latent") else IMAGE_METHODS
        method = text("upscale_method", "nearest-exact")
        ours = methods.get(method, next(iter(methods.values())))
        if method not in methods or method in ("area", "bislerp"):
            note(f"{cls}: upscale method {show(method)} is not supported here; "
                 f"using {ours!r}")
        crop = text("crop", "disabled")
        if crop != "disabled":
            note(f"{cls}: crop {show(crop)} is not supported here; the image is stretched")
        if cls.endswith("By"):
            return {"method": ours, "factor": number("scale_by", 1.0)}
        return {"method": ours, "factor": 0.0, "width": integer("width", 0),
                "height": integer("height", 0)}
    return {}


def sampler_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any]:
    sampler, why = to_ours(fields.text("sampler_name", "euler"), SAMPLERS, NEAREST_SAMPLERS,
                           "euler")
    schedule, why2 = to_ours(fields.text("scheduler", "normal"), SCHEDULERS,
                             NEAREST_SCHEDULERS, "normal")
    for text in (why, why2):
        if text:
            note(f"{cls}: {text}")
    seed_name = "noise_seed" if cls == "KSamplerAdvanced" else "seed"
    seed = fields.integer(seed_name, 0, 0, COMFY_MAX_SEED)
    if seed > MAX_SEED:
        note(f"{cls}: seed {seed} is above {MAX_SEED}; using {seed % (MAX_SEED + 1)}")
        seed %= MAX_SEED + 1
    steps = fields.integer("steps", 20)
    values = {"seed": seed, "sampler": sampler, "schedule": schedule, "steps": steps,
              "cfg": fields.number("cfg", 8.0)}
    if cls == "KSamplerAdvanced":  # its step range and noise switches, exactly
        return values | advanced_values(fields)
    return values | {"denoise": fields.number("denoise", 1.0)}
