"""Stable Diffusion's diffusion upscalers.

**x4 upscaler** (``StableDiffusionUpscalePipeline``, stabilityai/stable-diffusion-x4-upscaler):
a latent UNet whose VAE downsamples by 4, so the latent has the low-resolution image's size;
the UNet sees the latent concatenated with the noise-augmented low-resolution image (7 input
channels) and the augmentation level as its class label (``num_class_embeds``), predicts v, and
the augmentation follows its own DDPM schedule (``low_res_scheduler/``).

**Latent x2 upscaler** (``StableDiffusionLatentUpscalePipeline``, stabilityai/sd-x2-latent-upscaler):
a k-diffusion UNet (K blocks, Fourier time embedding, 8 input channels = latent + the low-res
latent upsampled, 5 out) driven with ``log(sigma) / 4`` as timestep and the noise level plus
the pooled prompt as ``timestep_cond``; its output is made a denoised estimate with
k-diffusion's preconditioning, sampled with Euler (``prediction_type="sample"``). It reads SD
latents, so an SD 1.x/2.x sample goes in and a twice larger SD latent comes out.
"""

from __future__ import annotations

from typing import Any

from pipelines.families.base import Component, LatentFormat, ModelFamily, unet_components
from pipelines.families.sd import SD_LATENT

# The x4 upscaler's VAE: 4 latent channels at 1/4 scale, scaling factor 1/12.
X4_LATENT = LatentFormat(channels=4, scaling_factor=0.08333, spatial_factor=4)
LOW_RES_SCHEDULER = "low_res_scheduler"


class SDUpscaleX4(ModelFamily):
    id = "sd_x4_upscaler"
    label = "Stable Diffusion x4 upscaler"
    components = (*unet_components(""),
                  Component(LOW_RES_SCHEDULER, ("diffusers.DDPMScheduler",), "scheduler"))
    latent = X4_LATENT
    native_size = 512
    default_cfg = 9.0
    default_steps = 75
    detection_note = "an upscaler: load it with Load Checkpoint, sample with Diffusion Upscale x4"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (denoiser_config.get("in_channels") == 7
                and denoiser_config.get("out_channels") == 4
                and bool(denoiser_config.get("num_class_embeds")))


class SDLatentUpscaleX2(ModelFamily):
    id = "sd_x2_latent_upscaler"
    label = "Stable Diffusion latent x2 upscaler"
    components = unet_components("")
    text_encoding = "clip_hidden_pooled"  # pipelines.text.upscaler
    latent = SD_LATENT
    native_size = 1024
    default_cfg = 9.0
    default_steps = 75
    detection_note = "an upscaler of SD latents: use it with the Latent Diffusion Upscale node"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (denoiser_config.get("in_channels") == 8
                and denoiser_config.get("out_channels") == 5
                and denoiser_config.get("time_embedding_type") == "fourier")
