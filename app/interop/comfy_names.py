"""The ComfyUI vocabulary: node classes we map, their widget orders and output slots, and
sampler/scheduler names in both directions. Shared by import (comfy.py) and export."""

from __future__ import annotations

from dataclasses import dataclass

from app.interop.comfy_custom import comfy_classes as _custom_classes
from app.interop.comfy_mappings import comfy_classes as _mapped_classes


# ComfyUI class -> our node type, its inputs (Comfy name -> ours) and output slots (ours).
@dataclass(frozen=True)
class ComfyClass:
    type_id: str
    links: dict[str, str]
    outputs: tuple[str, ...]
    widgets: tuple[str | None, ...] = ()  # UI widgets_values order; None = a UI-only widget
    dropped: tuple[str, ...] = ()  # Comfy link inputs we do not need (left out silently)


KSAMPLER_LINKS = {"model": "model", "positive": "positive", "negative": "negative",
                  "latent_image": "latent"}

CLASSES: dict[str, ComfyClass] = {
    "CheckpointLoaderSimple": ComfyClass(
        "loaders.checkpoint", {}, ("model", "clip", "vae"), ("ckpt_name",)),
    "CLIPTextEncode": ComfyClass(
        "conditioning.text_encode", {"clip": "clip"}, ("conditioning",), ("text",)),
    "EmptyLatentImage": ComfyClass(
        "latent.empty", {}, ("latent",), ("width", "height", "batch_size")),
    "KSampler": ComfyClass(
        "sampling.sampler", KSAMPLER_LINKS, ("latent",),
        ("seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise")),
    "KSamplerAdvanced": ComfyClass(
        "sampling.sampler_advanced", KSAMPLER_LINKS, ("latent",),
        ("add_noise", "noise_seed", None, "steps", "cfg", "sampler_name", "scheduler",
         "start_at_step", "end_at_step", "return_with_leftover_noise")),
    "VAEDecode": ComfyClass("vae.decode", {"samples": "latent", "vae": "vae"}, ("image",)),
    "VAEDecodeTiled": ComfyClass(
        "vae.decode", {"samples": "latent", "vae": "vae"}, ("image",),
        ("tile_size", "overlap", "temporal_size", "temporal_overlap")),
    "VAEEncode": ComfyClass("vae.encode", {"pixels": "image", "vae": "vae"}, ("latent",)),
    "SaveImage": ComfyClass("image.save", {"images": "image"}, (), ("filename_prefix",)),
    "PreviewImage": ComfyClass("image.preview", {"images": "image"}, ()),
    "LoadImage": ComfyClass("image.load", {}, ("image", "mask"), ("image", None)),
    "LatentUpscale": ComfyClass(
        "latent.upscale", {"samples": "latent"}, ("latent",),
        ("upscale_method", "width", "height", "crop")),
    "LatentUpscaleBy": ComfyClass(
        "latent.upscale", {"samples": "latent"}, ("latent",), ("upscale_method", "scale_by")),
    "ImageScale": ComfyClass(
        "image.upscale", {"image": "image"}, ("image",),
        ("upscale_method", "width", "height", "crop")),
    "ImageScaleBy": ComfyClass(
        "image.upscale", {"image": "image"}, ("image",), ("upscale_method", "scale_by")),
    "UpscaleModelLoader": ComfyClass(
        "upscale.load_model", {}, ("upscale_model",), ("model_name",)),
    "ImageUpscaleWithModel": ComfyClass(
        "upscale.with_model", {"upscale_model": "upscale_model", "image": "image"}, ("image",)),
    "LoraLoader": ComfyClass(
        "loaders.lora", {"model": "model", "clip": "clip"}, ("model", "clip"),
        ("lora_name", "strength_model", "strength_clip")),
    "VAELoader": ComfyClass("loaders.vae", {}, ("vae",), ("vae_name",)),
    "SetLatentNoiseMask": ComfyClass(
        "latent.set_noise_mask", {"samples": "latent", "mask": "mask"}, ("latent",)),
    "VAEEncodeForInpaint": ComfyClass(
        "vae.encode_inpaint", {"pixels": "image", "vae": "vae", "mask": "mask"}, ("latent",),
        ("grow_mask_by",)),
    "ModelSamplingDiscrete": ComfyClass(
        "model.sampling", {"model": "model"}, ("model",), ("sampling", "zsnr")),
    "RescaleCFG": ComfyClass("model.sampling", {"model": "model"}, ("model",), ("multiplier",)),
    "ControlNetLoader": ComfyClass(
        "loaders.controlnet", {}, ("control_net",), ("control_net_name",)),
    "DiffControlNetLoader": ComfyClass(  # the model is only needed by "diff" ControlNets
        "loaders.controlnet", {}, ("control_net",), ("control_net_name",), ("model",)),
    "ControlNetApplyAdvanced": ComfyClass(
        "conditioning.apply_controlnet",
        {"positive": "positive", "negative": "negative", "control_net": "control_net",
         "image": "image", "vae": "vae"},
        ("positive", "negative"), ("strength", "start_percent", "end_percent")),
    "ControlNetApply": ComfyClass(  # the positive alone
        "conditioning.apply_controlnet",
        {"conditioning": "positive", "control_net": "control_net", "image": "image"},
        ("positive",), ("strength",)),
    "CLIPVisionLoader": ComfyClass("loaders.clip_vision", {}, ("clip_vision",), ("clip_name",)),
    "CLIPVisionEncode": ComfyClass(
        "unclip.clip_vision_encode", {"clip_vision": "clip_vision", "image": "image"},
        ("embedding",), ("crop",)),
}
CLASSES.update(_custom_classes(ComfyClass))  # split sampling: noise, sigmas, guiders
CLASSES.update(_mapped_classes(ComfyClass))  # every module in comfy_mappings.MAPPINGS
# Loaders that are ours with a setting fixed (issue 16): a LoRA on the model alone, and the
# old checkpoint loader whose config file is not needed (the layout is read off the file)
CLASSES.update({
    "LoraLoaderModelOnly": ComfyClass(
        "loaders.lora", {"model": "model"}, ("model",), ("lora_name", "strength_model")),
    "CheckpointLoader": ComfyClass(
        "loaders.checkpoint", {}, ("model", "clip", "vae"), ("config_name", "ckpt_name")),
})
# Flux.1 (issue 13): the embedded guidance, the two-prompt encoder and the fixed shift
CLASSES.update({
    "FluxGuidance": ComfyClass(
        "conditioning.flux_guidance", {"conditioning": "conditioning"}, ("conditioning",),
        ("guidance",)),
    "CLIPTextEncodeFlux": ComfyClass(
        "conditioning.text_encode_flux", {"clip": "clip"}, ("conditioning",),
        ("clip_l", "t5xxl", "guidance")),
    "ModelSamplingFlux": ComfyClass(
        "model.sampling_flux", {"model": "model"}, ("model",),
        ("max_shift", "base_shift", "width", "height")),
})
# ComfyUI ModelSamplingDiscrete "sampling" values <-> our prediction names.
PREDICTIONS: dict[str, str] = {"eps": "epsilon", "v_prediction": "v_prediction", "lcm": "lcm"}

# Known ComfyUI nodes that have no node of ours yet (named as such in errors).
NOT_YET = {
}

# UI-only nodes: never executed by ComfyUI, so dropped on import.
UI_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}

SAMPLERS: dict[str, str] = {
    "euler": "euler", "euler_ancestral": "euler_ancestral", "heun": "heun", "dpm_2": "dpm_2",
    "dpm_2_ancestral": "dpm_2_ancestral", "dpmpp_2m": "dpmpp_2m",
    "dpmpp_2m_sde": "dpmpp_2m_sde", "ddim": "ddim", "ddpm": "ddpm", "uni_pc": "unipc_bh1", "uni_pc_bh2": "unipc",
    "deis": "deis", "lcm": "lcm", "lms": "lms", "dpmpp_sde": "dpmpp_sde",
}
# Comfy samplers we do not have -> the nearest of ours (imported with a note).
NEAREST_SAMPLERS: dict[str, str] = {
    "dpmpp_2m_sde_gpu": "dpmpp_2m_sde",
    "dpmpp_sde_gpu": "dpmpp_sde", "dpmpp_3m_sde": "dpmpp_2m_sde",
    "dpmpp_3m_sde_gpu": "dpmpp_2m_sde", "dpmpp_2s_ancestral": "euler_ancestral",
    "euler_cfg_pp": "euler", "euler_ancestral_cfg_pp": "euler_ancestral",
    "heunpp2": "heun", "dpm_fast": "dpmpp_2m", "dpm_adaptive": "dpmpp_2m", "ipndm": "deis",
    "ipndm_v": "deis", "res_multistep": "dpmpp_2m", "dpmpp_2m_cfg_pp": "dpmpp_2m",
}
SCHEDULERS: dict[str, str] = {
    "normal": "normal", "karras": "karras", "exponential": "exponential",
    "sgm_uniform": "sgm_uniform", "beta": "beta", "simple": "simple",
    "ddim_uniform": "ddim_uniform",
}
NEAREST_SCHEDULERS: dict[str, str] = {
    "linear_quadratic": "normal",
    "kl_optimal": "karras",
}

# Our method names <-> ComfyUI's upscale_method values.
LATENT_METHODS = {"nearest-exact": "nearest-exact", "bilinear": "bilinear",
                  "bicubic": "bicubic", "area": "bilinear", "bislerp": "bicubic"}
IMAGE_METHODS = {"nearest-exact": "nearest", "bilinear": "bilinear", "bicubic": "bicubic",
                 "lanczos": "lanczos", "area": "bilinear"}


def to_ours(name: str, exact: dict[str, str], nearest: dict[str, str],
            fallback: str) -> tuple[str, str | None]:
    """Our name for a ComfyUI name, and a note when it is only the nearest one."""
    if name in exact:
        return exact[name], None
    ours = nearest.get(name, fallback)
    return ours, f"{name!r} is not supported here; using the nearest, {ours!r}"


def to_comfy(ours: str, exact: dict[str, str]) -> str:
    """The ComfyUI name of one of our names (the first exact match)."""
    return next((c for c, o in exact.items() if o == ours), ours)
