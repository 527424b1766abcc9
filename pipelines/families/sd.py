"""Stable Diffusion 1.x and 2.x: one CLIP text encoder, a UNet, an AutoencoderKL, 4 latent
channels at 1/8 scale, the last hidden state as the prompt (SD2: OpenCLIP ViT-H)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.families.base import LatentFormat, ModelFamily, SingleFileLayout, named_function

if TYPE_CHECKING:
    from pipelines.values import TextEncoder

# Published linear latent -> RGB approximation for the scaled SD latents (ComfyUI's SD15 table).
SD_LATENT = LatentFormat(
    channels=4, scaling_factor=0.18215, spatial_factor=8,
    rgb_factors=((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350),
                 (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177)),
)
_SD2_V_BIAS = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"


class SD1(ModelFamily):
    accepts_control = True
    id = "sd1"
    label = "Stable Diffusion 1.x"
    latent = SD_LATENT
    native_size = 512
    default_cfg = 7.5
    single_file = SingleFileLayout(
        template="sd1", clip_prefix="cond_stage_model.transformer.",
        text_signatures=("cond_stage_model.transformer.",),
    )

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return _context_dim(denoiser_config) == 768

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return label_width is None and context_dim == 768

    def matches_unet_file(self, context_dim: int) -> bool:
        return context_dim == 768

    text_files_type = "sd1"  # ComfyUI's CLIPLoader type stable_diffusion: one clip_l file

    def load_text_encoder_files(self, paths: list[Path]) -> TextEncoder:
        return named_function("pipelines.loading.clip_files", "load_sd1_text_encoder")(paths)


class SD2(ModelFamily):
    accepts_control = True
    id = "sd2"
    label = "Stable Diffusion 2.x"
    latent = SD_LATENT
    native_size = 768
    default_cfg = 7.5
    single_file = SingleFileLayout(
        template="sd2", open_clip_prefix="cond_stage_model.model.", open_clip_extra_layer=True,
        text_signatures=("cond_stage_model.model.",),
    )
    detection_note = "epsilon or v-prediction: not recorded in the file; 768px models are v"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return _context_dim(denoiser_config) == 1024

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return label_width is None and context_dim == 1024

    def matches_unet_file(self, context_dim: int) -> bool:
        return context_dim == 1024

    def template_for(self, path: Path, state: dict[str, Any], metadata: dict[str, str]) -> str:
        """SD2 files do not record epsilon vs v-prediction, so: file metadata
        (``modelspec.prediction_type``), then the file name, then ComfyUI's weight test."""
        import torch

        prediction = metadata.get("modelspec.prediction_type", "").lower()
        if prediction in {"v", "v_prediction", "epsilon", "eps"}:
            return "sd2-v" if prediction.startswith("v") else "sd2"
        name = path.stem.lower()
        if re.search(r"768|v[-_]?pred|[-_]v$", name):
            return "sd2-v"
        if re.search(r"512|base", name):
            return "sd2"
        bias = state.get(_SD2_V_BIAS)
        if bias is not None and float(torch.std(bias.float(), unbiased=False)) > 0.09:
            return "sd2-v"
        return "sd2"


def _context_dim(config: dict[str, Any]) -> Any:
    dim = config.get("cross_attention_dim")
    if isinstance(dim, list | tuple):
        dim = dim[0] if dim else None
    return dim
