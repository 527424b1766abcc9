"""ComfyUI widget values -> ours, per node class, with a note for everything approximated."""

from __future__ import annotations

from typing import Any

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


def comfy_values(cls: str, inputs: dict[str, Any], note: Any) -> dict[str, Any]:
    """Our values for a ComfyUI node's widget inputs."""
    get = inputs.get
    if cls == "CheckpointLoaderSimple":
        return {"checkpoint": get("ckpt_name", "")}
    if cls == "CLIPTextEncode":
        return {"text": get("text", "")}
    if cls == "EmptyLatentImage":
        return {k: get(k) for k in ("width", "height", "batch_size") if k in inputs}
    if cls in ("KSampler", "KSamplerAdvanced"):
        return sampler_values(cls, inputs, note)
    if cls == "SaveImage":
        return {"filename_prefix": get("filename_prefix", "ComfyUI")}
    if cls == "LoadImage":
        return {"path": get("image", "")}
    if cls == "UpscaleModelLoader":
        return {"model": get("model_name", "")}
    if cls == "CLIPVisionLoader":
        return {"clip_vision": get("clip_name", "")}
    if cls == "CLIPVisionEncode":
        if get("crop", "center") != "center":
            note(f"{cls}: crop {get('crop')!r} is not supported here; the image is center-cropped")
        return {}
    if cls == "VAELoader":
        return {"vae": get("vae_name", "")}
    if cls == "VAEDecodeTiled":  # its overlap is fixed here (a quarter of the tile)
        return {"tiling": "always", "tile_size": int(get("tile_size", 512))}
    if cls == "VAEEncodeForInpaint":
        return {"grow_mask_by": get("grow_mask_by", 6)}
    if cls == "RescaleCFG":
        return {"prediction": "auto", "zero_terminal_snr": "auto",
                "cfg_rescale": get("multiplier", 0.7)}
    if cls == "ModelSamplingDiscrete":
        sampling = str(get("sampling", "eps"))
        if sampling not in PREDICTIONS:
            note(f"{cls}: sampling {sampling!r} is not supported here; the model's own is used")
        return {"prediction": PREDICTIONS.get(sampling, "auto"),
                "zero_terminal_snr": "on" if get("zsnr", False) else "off"}
    if cls == "LoraLoader":
        return {"lora": get("lora_name", ""), "strength_model": get("strength_model", 1.0),
                "strength_clip": get("strength_clip", 1.0)}
    if cls in ("LatentUpscale", "LatentUpscaleBy", "ImageScale", "ImageScaleBy"):
        methods = LATENT_METHODS if cls.startswith("Latent") else IMAGE_METHODS
        method = get("upscale_method", "nearest-exact")
        ours = methods.get(method, next(iter(methods.values())))
        if method not in methods or method in ("area", "bislerp"):
            note(f"{cls}: upscale method {method!r} is not supported here; using {ours!r}")
        if get("crop", "disabled") != "disabled":
            note(f"{cls}: crop {get('crop')!r} is not supported here; the image is stretched")
        if cls.endswith("By"):
            return {"method": ours, "factor": get("scale_by", 1.0)}
        return {"method": ours, "factor": 0.0, "width": get("width", 0),
                "height": get("height", 0)}
    return {}


def sampler_values(cls: str, inputs: dict[str, Any], note: Any) -> dict[str, Any]:
    get = inputs.get
    sampler, why = to_ours(str(get("sampler_name", "euler")), SAMPLERS, NEAREST_SAMPLERS,
                           "euler")
    schedule, why2 = to_ours(str(get("scheduler", "normal")), SCHEDULERS, NEAREST_SCHEDULERS,
                             "normal")
    for text in (why, why2):
        if text:
            note(f"{cls}: {text}")
    seed = int(get("noise_seed" if cls == "KSamplerAdvanced" else "seed", 0) or 0)
    if seed > MAX_SEED:
        note(f"{cls}: seed {seed} is above {MAX_SEED}; using {seed % (MAX_SEED + 1)}")
        seed %= MAX_SEED + 1
    steps = int(get("steps", 20))
    values = {"seed": seed, "sampler": sampler, "schedule": schedule, "steps": steps,
              "cfg": get("cfg", 8.0), "denoise": get("denoise", 1.0)}
    if cls == "KSamplerAdvanced":
        start, end = int(get("start_at_step", 0)), int(get("end_at_step", 10000))
        if 0 < start < steps:
            values["steps"], values["denoise"] = steps - start, round((steps - start) / steps, 4)
            note(f"{cls}: start_at_step {start} of {steps} becomes denoise "
                 f"{values['denoise']} over {steps - start} steps")
        if end < steps:
            note(f"{cls}: end_at_step {end} is ignored; sampling runs to the end")
        if get("add_noise", "enable") == "disable":
            note(f"{cls}: add_noise 'disable' is not supported here; noise is added")
    return values
