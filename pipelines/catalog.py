"""Names of samplers and schedules, importable without torch (node declarations use them).

``pipelines.samplers`` maps each name to a diffusers scheduler; a test keeps both in step.
"""

from __future__ import annotations

SAMPLER_NAMES: tuple[str, ...] = (
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpm_2_ancestral",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "ddim",
    "ddpm",
    "unipc",
    "deis",
    "lcm",
)

SCHEDULE_NAMES: tuple[str, ...] = ("normal", "karras", "exponential", "sgm_uniform")

UPSCALE_METHODS: tuple[str, ...] = ("lanczos", "bicubic", "bilinear", "nearest")
LATENT_UPSCALE_METHODS: tuple[str, ...] = ("nearest-exact", "bilinear", "bicubic")
