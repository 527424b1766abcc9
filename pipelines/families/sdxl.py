"""SDXL base and refiner: CLIP-L + OpenCLIP bigG (the refiner only bigG), penultimate hidden
states concatenated, the pooled output and size/crop time ids as extra denoiser inputs; the
VAE overflows in float16, so it stays float32 unless the user forces otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.base import (
    LatentFormat,
    ModelFamily,
    SingleFileLayout,
    named_function,
    unet_components,
)

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from pipelines.values import Conditioning, DiffusionModel, TextEncoder

SDXL_LATENT = LatentFormat(
    channels=4, scaling_factor=0.13025, spatial_factor=8,
    rgb_factors=((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068),
                 (0.1076, 0.1111, -0.0362), (-0.3165, -0.2492, -0.2188)),
    rgb_bias=(0.1084, -0.0175, -0.0011),
)
_REFINER_LABEL_WIDTH = 2560  # pooled 1280 + 5 time ids x 256


class SDXL(ModelFamily):
    accepts_control = True
    id = "sdxl"
    label = "Stable Diffusion XL"
    components = unet_components("", "_2")
    text_encoders = (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
    prompt_layer = "penultimate"
    pooled = True
    latent = SDXL_LATENT
    native_size = 1024
    default_cfg = 7.0
    default_steps = 25
    vae_fp16_upcast = True
    time_ids = 6  # original size, crop, target size
    single_file = SingleFileLayout(
        template="sdxl", clip_prefix="conditioner.embedders.0.transformer.",
        open_clip_prefix="conditioner.embedders.1.model.", open_clip_slot="text_encoder_2",
        text_signatures=("conditioner.embedders.1.model.", "conditioner.embedders.0.transformer."),
    )

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return denoiser_config.get("addition_embed_type") == "text_time"

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return label_width is not None and label_width != _REFINER_LABEL_WIDTH

    def matches_unet_file(self, context_dim: int) -> bool:
        return context_dim == 2048

    text_files_type = "sdxl"  # ComfyUI's DualCLIPLoader type sdxl: clip_l + clip_g files

    def load_text_encoder_files(self, paths: list[Path]) -> TextEncoder:
        return named_function("pipelines.loading.clip_files", "load_sdxl_text_encoders")(paths)

    def configure_single_file_unet(self, config: dict[str, Any], pooled_width: int) -> None:
        if "addition_time_embed_dim" in config:
            config["addition_time_embed_dim"] = (
                config["projection_class_embeddings_input_dim"] - pooled_width) // self.time_ids

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        from pipelines.families.unet import micro_conditioning

        inputs = super().denoiser_inputs(model, context, positive, negative, x, cfg_batch, cfg)
        inputs["added_cond_kwargs"] = micro_conditioning(model, positive, negative, x, cfg_batch)
        return inputs


class SDXLRefiner(SDXL):
    id = "sdxl_refiner"
    label = "Stable Diffusion XL refiner"
    components = unet_components("_2")
    text_encoders = (("tokenizer_2", "text_encoder_2"),)
    time_ids = 5  # original size, crop, aesthetic score
    single_file = SingleFileLayout(
        template="sdxl-refiner", open_clip_prefix="conditioner.embedders.0.model.",
        open_clip_slot="text_encoder_2", text_signatures=("conditioner.embedders.0.model.",),
    )

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return False  # a refiner folder without a "family" reads as SDXL (same UNet type)

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return label_width == _REFINER_LABEL_WIDTH

    def matches_unet_file(self, context_dim: int) -> bool:
        return False
