"""Names of samplers and schedules, importable without torch (node declarations use them).

``pipelines.sampling.samplers`` maps each name to a diffusers scheduler; a test keeps both in step.
"""

from __future__ import annotations

SAMPLER_NAMES: tuple[str, ...] = (
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "dpmpp_sde",
    "ddim",
    "ddpm",
    "unipc",
    "unipc_bh1",
    "deis",
    "lcm",
)

SCHEDULE_NAMES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform", "beta",
                                   "simple", "ddim_uniform")

# "auto" keeps the model's own prediction type (see pipelines.sampling.samplers.PREDICTION_TYPES).
# "lcm" is epsilon for LCM-distilled models (ComfyUI's ModelSamplingDiscrete "lcm").
PREDICTION_NAMES: tuple[str, ...] = ("auto", "epsilon", "v_prediction", "lcm")

# Weight precision (pipelines.memory.precision) and where models live (pipelines.memory.placement).
PRECISION_NAMES: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")
VRAM_MODE_NAMES: tuple[str, ...] = ("auto", "normal", "low")

VAE_TILING: tuple[str, ...] = ("auto", "always", "never")  # see pipelines.sampling.vae

UPSCALE_METHODS: tuple[str, ...] = ("lanczos", "bicubic", "bilinear", "nearest")
LATENT_UPSCALE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "bicubic")
# ComfyUI's common_upscale methods, in its order (pipelines.image_ops.resize)
COMFY_RESIZE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")

_SIGMA_SCHEDULES = ("normal", "karras", "exponential", "sgm_uniform", "beta")
# ComfyUI's schedules picked from the model's sigmas: for samplers that step over given sigmas
_TABLE = ("simple", "ddim_uniform")
# Which schedules each sampler's diffusers scheduler supports (ddim/ddpm/euler_ancestral
# take no custom sigma spacing; lcm has its own spacing or ComfyUI's sgm_uniform timesteps).
# A test checks this against diffusers.
SCHEDULES_FOR: dict[str, tuple[str, ...]] = {
    name: (*_SIGMA_SCHEDULES, *_TABLE) for name in SAMPLER_NAMES
} | {
    "euler_ancestral": ("normal", "sgm_uniform", *_TABLE),
    "ddim": ("normal", "sgm_uniform", *_TABLE),
    "ddpm": ("normal", "sgm_uniform"),
    "lcm": ("normal", "sgm_uniform"),
    "dpm_2": _SIGMA_SCHEDULES,
    "dpm_2_ancestral": _SIGMA_SCHEDULES,
    "dpmpp_sde": _SIGMA_SCHEDULES,
}

# Acceleration of the denoiser (pipelines.speed.accelerate): off, torch.compile, or compile
# with max-autotune and CUDA graphs.
ACCELERATE_NAMES: tuple[str, ...] = ("off", "compile", "max")

# Load Diffusion Model's weight dtypes (ComfyUI's weight_dtype and casts; see
# pipelines.loading.weight_dtype): the file's own, fp8 storage computed in bfloat16, or a cast.
WEIGHT_DTYPE_NAMES: tuple[str, ...] = ("default", "fp8_e4m3fn", "fp8_e5m2", "float16",
                                       "bfloat16", "float32")

# ComfyUI's LatentRotate / LatentFlip / LoadImageMask choices (pipelines.batch_ops)
LATENT_ROTATIONS: tuple[str, ...] = ("none", "90 degrees", "180 degrees", "270 degrees")
LATENT_FLIPS: tuple[str, ...] = ("x-axis: vertically", "y-axis: horizontally")
MASK_CHANNELS: tuple[str, ...] = ("alpha", "red", "green", "blue")
# ComfyUI's MaskComposite operations and ImageToMask channels (pipelines.mask_ops)
MASK_COMPOSITE_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")
IMAGE_MASK_CHANNELS = ("red", "green", "blue", "alpha")
# ComfyUI's ImageBlend modes and ImageQuantize dithers (pipelines.postprocess)
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")
QUANTIZE_DITHERS = ("none", "floyd-steinberg")
# how Merge Models combines two networks (pipelines.model_merge)
MERGE_MODES = ("weighted", "add", "subtract")
