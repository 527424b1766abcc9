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
    "deis",
    "lcm",
)

SCHEDULE_NAMES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform", "beta")

# "auto" keeps the model's own prediction type (see pipelines.sampling.samplers.PREDICTION_TYPES).
PREDICTION_NAMES: tuple[str, ...] = ("auto", "epsilon", "v_prediction")

# Weight precision (pipelines.memory.precision) and where models live (pipelines.memory.placement).
PRECISION_NAMES: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")
VRAM_MODE_NAMES: tuple[str, ...] = ("auto", "normal", "low")

VAE_TILING: tuple[str, ...] = ("auto", "always", "never")  # see pipelines.sampling.vae

UPSCALE_METHODS: tuple[str, ...] = ("lanczos", "bicubic", "bilinear", "nearest")
LATENT_UPSCALE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "bicubic")
# ComfyUI's common_upscale methods, in its order (pipelines.image_ops.resize)
COMFY_RESIZE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")

_SIGMA_SCHEDULES = ("normal", "karras", "exponential", "sgm_uniform", "beta")
# Which schedules each sampler's diffusers scheduler supports (ddim/ddpm/euler_ancestral
# take no custom sigmas; lcm has its own spacing). A test checks this against diffusers.
SCHEDULES_FOR: dict[str, tuple[str, ...]] = {
    name: _SIGMA_SCHEDULES for name in SAMPLER_NAMES
} | {
    "euler_ancestral": ("normal", "sgm_uniform"),
    "ddim": ("normal", "sgm_uniform"),
    "ddpm": ("normal", "sgm_uniform"),
    "lcm": ("normal",),
}

# Acceleration of the denoiser (pipelines.speed.accelerate): off, torch.compile, or compile
# with max-autotune and CUDA graphs.
ACCELERATE_NAMES: tuple[str, ...] = ("off", "compile", "max")
