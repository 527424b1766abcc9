"""Stable Diffusion 3 / 3.5: an MMDiT transformer (``SD3Transformer2DModel``) over 16-channel
latents, conditioned on CLIP-L + CLIP-G penultimate states padded to T5-XXL's width and
joined with the T5 states along the sequence, plus both CLIPs' pooled outputs; sampled with
flow matching (a fixed shift, 3.0 for the released models). As ``StableDiffusion3Pipeline``.

Files: diffusers folders, all-in-one single files (``model.diffusion_model.joint_blocks.*``,
``text_encoders.clip_l/clip_g/t5xxl.*``, ``first_stage_model.*``), the transformer alone and
the text encoders as separate files (ComfyUI's UNETLoader / TripleCLIPLoader); the file
readers live in ``pipelines.loading.sd3_files``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.families.base import (
    Component,
    LatentFormat,
    ModelFamily,
    SingleFileLayout,
    named_function,
)

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel, TextEncoder, Vae

# comfy/latent_formats.py, class SD3 (ComfyUI): latent -> RGB for step previews
SD3_LATENT = LatentFormat(
    channels=16, scaling_factor=1.5305, shift_factor=0.0609, spatial_factor=8,
    rgb_factors=((-0.0922, -0.0175, 0.0749), (0.0311, 0.0633, 0.0954), (0.1994, 0.0927, 0.0458),
                 (0.0856, 0.0339, 0.0902), (0.0587, 0.0272, -0.0496), (-0.0006, 0.1104, 0.0309),
                 (0.0978, 0.0306, 0.0427), (-0.0042, 0.1038, 0.1358), (-0.0194, 0.0020, 0.0669),
                 (-0.0488, 0.0130, -0.0268), (0.0922, 0.0988, 0.0951), (-0.0278, 0.0524, -0.0542),
                 (0.0332, 0.0456, 0.0895), (-0.0069, -0.0030, -0.0810),
                 (-0.0596, -0.0465, -0.0293), (-0.1448, -0.1463, -0.1189)),
    rgb_bias=(0.2394, 0.2135, 0.1925),
)
_CLIP = ("transformers.CLIPTextModelWithProjection",)
_CLIP_TOKENIZER = ("transformers.CLIPTokenizer", "transformers.CLIPTokenizerFast")
# The keys an all-in-one file (or a transformer-only file) of the original layout carries.
TRANSFORMER_KEY = "joint_blocks.0.context_block.adaLN_modulation.1.bias"
SINGLE_FILE_PREFIX = "model.diffusion_model."
FILES = "pipelines.loading.sd3_files"  # the readers of SD3's original-layout files


class SD3(ModelFamily):
    id = "sd3"
    label = "Stable Diffusion 3 / 3.5"
    denoiser = "transformer"
    components = (
        Component("transformer", ("diffusers.SD3Transformer2DModel",), "denoiser"),
        Component("vae", ("diffusers.AutoencoderKL",), "vae"),
        Component("scheduler", ("diffusers.*",), "scheduler"),
        Component("text_encoder", _CLIP, "text_encoder"),
        Component("tokenizer", _CLIP_TOKENIZER, "tokenizer"),
        Component("text_encoder_2", _CLIP, "text_encoder"),
        Component("tokenizer_2", _CLIP_TOKENIZER, "tokenizer"),
        # the pipeline runs without T5 (its states are then zeros), so it may be left out
        Component("text_encoder_3", ("transformers.T5EncoderModel",), "text_encoder",
                  required=False),
        Component("tokenizer_3", ("transformers.T5Tokenizer", "transformers.T5TokenizerFast"),
                  "tokenizer", required=False),
    )
    text_encoders = (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"),
                     ("tokenizer_3", "text_encoder_3"))
    prompt_layer = "penultimate"
    pooled = True
    text_encoding = "sd3"  # pipelines.text.sd3
    latent = SD3_LATENT
    schedule = "flow"
    native_size = 1024
    default_cfg = 4.5  # SD3.5 large: 3.5-4.5; SD3 medium: 7.0
    default_steps = 28
    # read by ``file_kind`` / ``load_checkpoint_state``; the layout says where the text
    # encoders sit for size estimates (all three under one prefix) and names the templates
    single_file = SingleFileLayout(template="sd3", clip_prefix="text_encoders.")
    text_files_type = "sd3"
    accepts_control = True  # SD3ControlNetModel (pipelines.sampling.transformer_control)
    control_kinds = ("sd3_controlnet",)

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return denoiser_config.get("_class_name") == "SD3Transformer2DModel"

    # --- files -------------------------------------------------------------------------------
    def file_kind(self, keys: Any) -> str:
        """"checkpoint" (all-in-one), "unet" (the transformer alone) or "" from a file's keys."""
        if SINGLE_FILE_PREFIX + TRANSFORMER_KEY in keys:
            return "checkpoint"
        return "unet" if TRANSFORMER_KEY in keys else ""

    def load_checkpoint_state(self, state: dict[str, torch.Tensor], path: Path, device: Any,
                              dtype: Any, in_ram: Any = None
                              ) -> tuple[DiffusionModel, TextEncoder, Vae] | None:
        return named_function(FILES, "load_all_in_one")(state, path, device, dtype, in_ram)

    def load_denoiser_file(self, path: Path, dtype: str) -> DiffusionModel:
        return named_function(FILES, "load_transformer_file")(path, dtype)

    def load_text_encoder_files(self, paths: list[Path]) -> TextEncoder:
        return named_function(FILES, "load_text_encoder_files")(paths)

    def lora_state(self, state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        return named_function("pipelines.loading.transformer_lora", "lora_state")(
            "sd3", state, source)

    # --- sampling ----------------------------------------------------------------------------
    def timestep_options(self, model: DiffusionModel, scheduler: Any,
                         latent_shape: tuple[int, ...], steps: int) -> dict[str, Any]:
        """SD3's pipeline: a resolution-dependent ``mu`` only for configs with dynamic shifting
        (the released SD3/3.5 schedulers use a fixed shift)."""
        config = scheduler.config
        if not config.get("use_dynamic_shifting", False):
            return {}
        from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import (
            calculate_shift,
        )

        patch = int(getattr(model.denoiser.config, "patch_size", 2))
        tokens = (latent_shape[2] // patch) * (latent_shape[3] // patch)
        mu = calculate_shift(tokens, config.get("base_image_seq_len", 256),
                             config.get("max_image_seq_len", 4096),
                             config.get("base_shift", 0.5), config.get("max_shift", 1.16))
        return {"mu": mu}

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        import torch

        from pipelines.families.unet import batched

        pos_pooled = positive.extras.get("pooled")
        neg_pooled = negative.extras.get("pooled") if negative is not None else None
        if pos_pooled is None or (cfg_batch and neg_pooled is None):
            raise ValueError("This model needs SD3 conditioning (encode the prompt with the "
                             "model's SD3 text encoders)")
        batch = x.shape[0]
        pooled = batched(pos_pooled, batch, "positive pooled")
        if cfg_batch:
            pooled = torch.cat([batched(neg_pooled, batch, "negative pooled"), pooled])
        dtype = self.denoiser_dtype(model)
        return {"encoder_hidden_states": context.to(device=x.device, dtype=dtype),
                "pooled_projections": pooled.to(device=x.device, dtype=dtype),
                "return_dict": False}

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        return model.denoiser(hidden_states=x, timestep=t.expand(x.shape[0]), **inputs)[0]
