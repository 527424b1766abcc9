"""Karlo (kakaobrain's open unCLIP, diffusers ``UnCLIPPipeline``): DALL-E 2's cascade in
pixels. A prior turns text into a CLIP image embedding; a 64px decoder UNet with learned
variance is conditioned on it through ``UnCLIPTextProjModel`` (extra context tokens and an
additive time embedding, with a learned unconditional embedding for guidance); two
super-resolution UNets (one for every step but the last, one for the last) take it to 256px.

A saved UnCLIPPipeline does not reload in diffusers 0.42 (``UnCLIPTextProjModel`` is not
exported): ``pipelines.loading.unclip`` loads each component with its own class.
"""

from __future__ import annotations

from typing import Any

from pipelines.families.base import Component, LatentFormat, ModelFamily
from pipelines.families.kandinsky import PRIOR, PRIOR_TEXT

_UNCLIP = ("diffusers.UnCLIPScheduler",)


class Karlo(ModelFamily):
    id = "karlo"
    label = "Karlo (unCLIP)"
    denoiser = "decoder"
    components = (
        PRIOR,
        Component("decoder", ("diffusers.UNet2DConditionModel",), "denoiser"),
        Component("text_proj", ("diffusers.UnCLIPTextProjModel",), "denoiser"),
        Component("super_res_first", ("diffusers.UNet2DModel",), "denoiser"),
        Component("super_res_last", ("diffusers.UNet2DModel",), "denoiser"),
        *PRIOR_TEXT,
        Component("prior_scheduler", _UNCLIP, "scheduler"),
        Component("decoder_scheduler", _UNCLIP, "scheduler"),
        Component("super_res_scheduler", _UNCLIP, "scheduler"),
    )
    vae = ""  # pixel space, not a checkpoint: the Load unCLIP node loads it
    text_encoders = (("tokenizer", "text_encoder"),)
    latent = LatentFormat(channels=3, scaling_factor=1.0, spatial_factor=1)
    native_size = 256
    default_cfg = 8.0
    default_steps = 25
    detection_note = "unCLIP cascade: load it with Load unCLIP"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (denoiser_config.get("_class_name") == "UNet2DConditionModel"
                and denoiser_config.get("class_embed_type") == "identity")
