"""A UNet + CLIP + AutoencoderKL folder whose family could not be named (tiny test models,
unusual fine-tunes). It loads what its model_index declares and behaves by what it holds:
two text encoders are encoded the SDXL way, a text_time UNet gets SDXL's extra inputs.

Its class lists are permissive by name (``diffusers.*``, ``transformers.*``), but what is built
still obeys ``pipelines.loading.component_kinds``: only diffusers/transformers model classes
for networks, tokenizer/image-processor classes for tokenizers, never an ``Auto*`` class, a
pipeline or a function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.base import Component, LatentFormat, ModelFamily

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel, TextEncoder


class Unknown(ModelFamily):
    accepts_control = True
    id = "unknown"
    label = "Unknown UNet model"
    components = (
        Component("unet", ("diffusers.*",), "denoiser"),
        Component("vae", ("diffusers.*",), "vae"),
        Component("scheduler", ("diffusers.*",), "scheduler"),
        Component("text_encoder", ("transformers.*",), "text_encoder", required=False),
        Component("tokenizer", ("transformers.*",), "tokenizer", required=False),
        Component("text_encoder_2", ("transformers.*",), "text_encoder", required=False),
        Component("tokenizer_2", ("transformers.*",), "tokenizer", required=False),
    )
    text_encoders = (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
    latent = LatentFormat()  # no preview table: the first channels are shown
    vae_fp16_upcast = True

    def vae_upcast(self, force_upcast: bool) -> bool:
        return True  # not knowing the VAE, keep it float32 to be safe

    def prompt_style(self, clip: TextEncoder) -> tuple[str, bool]:
        if len(clip.present()) > 1:
            return "penultimate", True
        return "last", False

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        from pipelines.families.unet import micro_conditioning, takes_micro_conditioning

        inputs = super().denoiser_inputs(model, context, positive, negative, x, cfg_batch, cfg)
        if takes_micro_conditioning(model):
            inputs["added_cond_kwargs"] = micro_conditioning(model, positive, negative, x,
                                                             cfg_batch)
        return inputs
