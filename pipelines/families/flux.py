"""Flux.1 (Black Forest Labs): a rectified-flow MMDiT transformer over 16-channel latents,
conditioned on T5-XXL states (the sequence) and CLIP-L's pooled output, sampled with flow
matching and a resolution-dependent shift. dev is guidance-distilled (the guidance value is an
input of the network, ``guidance_embeds``); schnell is timestep-distilled (4 steps, no guidance).

The latent stays unpacked [B, 16, h, w] everywhere in the graph: ``call_denoiser`` packs 2x2
patches into tokens, passes ``timestep / 1000`` and unpacks the output, exactly as
diffusers' ``FluxPipeline`` around its transformer call, so the shared loop stays generic.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pipelines.families.base import Component, LatentFormat, ModelFamily
from pipelines.families.flux_references import add_references, call_transformer
from pipelines.families.flux_tokens import image_ids, pack, unpack

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from pipelines.values import Conditioning, DiffusionModel, TextEncoder, Vae

# ComfyUI comfy/latent_formats.py, class Flux: 16 channels, (z - 0.1159) * 0.3611
FLUX_LATENT = LatentFormat(
    channels=16, scaling_factor=0.3611, shift_factor=0.1159, spatial_factor=8,
    rgb_factors=((-0.0346, 0.0244, 0.0681), (0.0034, 0.0210, 0.0687), (0.0275, -0.0668, -0.0433),
                 (-0.0174, 0.0160, 0.0617), (0.0859, 0.0721, 0.0329), (0.0004, 0.0383, 0.0115),
                 (0.0405, 0.0861, 0.0915), (-0.0236, -0.0185, -0.0259),
                 (-0.0245, 0.0250, 0.1180), (0.1008, 0.0755, -0.0421),
                 (-0.0515, 0.0201, 0.0011), (0.0428, -0.0012, -0.0036),
                 (0.0817, 0.0765, 0.0749), (-0.1264, -0.0522, -0.1103),
                 (-0.0280, -0.0881, -0.0499), (-0.1262, -0.0982, -0.0778)),
    rgb_bias=(-0.0329, -0.0718, -0.0851),
)
FLUX_COMPONENTS = (
    Component("transformer", ("diffusers.FluxTransformer2DModel",), "denoiser"),
    Component("vae", ("diffusers.AutoencoderKL",), "vae"),
    Component("scheduler", ("diffusers.FlowMatchEulerDiscreteScheduler",), "scheduler"),
    Component("text_encoder", ("transformers.CLIPTextModel",), "text_encoder"),
    Component("tokenizer", ("transformers.CLIPTokenizer", "transformers.CLIPTokenizerFast"),
              "tokenizer"),
    Component("text_encoder_2", ("transformers.T5EncoderModel",), "text_encoder"),
    Component("tokenizer_2", ("transformers.T5Tokenizer", "transformers.T5TokenizerFast"),
              "tokenizer"),
)
DEFAULT_GUIDANCE = 3.5  # FluxPipeline's guidance_scale and ComfyUI's FluxGuidance default
# FluxPipeline / ComfyUI: the shift grows linearly with the image tokens between these
BASE_SEQ_LEN, MAX_SEQ_LEN, BASE_SHIFT, MAX_SHIFT = 256, 4096, 0.5, 1.15


def calculate_shift(image_seq_len: int, base_seq_len: int = BASE_SEQ_LEN,
                    max_seq_len: int = MAX_SEQ_LEN, base_shift: float = BASE_SHIFT,
                    max_shift: float = MAX_SHIFT) -> float:
    """mu of the exponential time shift for ``image_seq_len`` packed tokens (FluxPipeline)."""
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return image_seq_len * m + (base_shift - m * base_seq_len)


def _loader(name: str, module: str = "flux_files") -> Any:
    """A reader of ``pipelines.loading.<module>``, named as data: families sit below the
    rooms that ask them (import contract), as ``PROMPT_ENCODERS`` names prompt encoders."""
    import importlib

    return getattr(importlib.import_module(f"pipelines.loading.{module}"), name)


def _flux_file_guidance(keys: Any) -> bool | None:
    """Whether a Flux transformer file has the guidance embedder; None: not a Flux file.
    BFL layout: ``double_blocks.*``; diffusers layout: ``x_embedder`` (SD3 has ``pos_embed``)
    with ``single_transformer_blocks``."""
    names = {key.rsplit("diffusion_model.", 1)[-1].removeprefix("transformer.")
             for key in keys}
    bfl = "double_blocks.0.img_attn.qkv.weight" in names
    diffusers = {"x_embedder.weight", "single_transformer_blocks.0.proj_mlp.weight"} <= names
    if not (bfl or diffusers):
        return None
    return bool({"guidance_in.in_layer.weight",
                 "time_text_embed.guidance_embedder.linear_1.weight"} & names)


def _plain_flux(config: dict[str, Any]) -> bool:
    """A Flux transformer taking the latent alone (Fill takes image and mask channels too)."""
    return _is_flux(config) and config.get("out_channels") in (None, config.get("in_channels"))


def _is_flux(config: dict[str, Any]) -> bool:
    return config.get("_class_name") == "FluxTransformer2DModel" or (
        "axes_dims_rope" in config and "num_single_layers" in config
        and "joint_attention_dim" in config and "pooled_projection_dim" in config)


class FluxDev(ModelFamily):
    id = "flux_dev"
    label = "Flux.1 dev"
    denoiser = "transformer"
    components = FLUX_COMPONENTS
    text_encoders = (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
    pooled = True
    text_encoding = "flux"
    latent = FLUX_LATENT
    schedule = "flow"
    native_size = 1024
    default_cfg = 1.0  # guidance-distilled: the guidance is a Flux Guidance value instead
    default_steps = 20
    guidance_embeds = True
    default_guidance = DEFAULT_GUIDANCE  # the embedded guidance of a conditioning without one
    t5_max_length = 512  # FluxPipeline's max_sequence_length default
    text_files_type = "flux"  # dev's T5 length (512); schnell's type pads to 256
    accepts_control = True  # FluxControlNetModel (pipelines.sampling.transformer_control)
    control_kinds = ("flux_controlnet",)
    detection_note = "Flux transformer with guidance_in: the guidance-distilled dev model"
    # the hub's scheduler_config.json (files of the transformer alone carry none)
    scheduler_defaults: dict[str, Any] = {
        "_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000,
        "shift": 3.0, "use_dynamic_shifting": True, "base_shift": BASE_SHIFT,
        "max_shift": MAX_SHIFT, "base_image_seq_len": BASE_SEQ_LEN,
        "max_image_seq_len": MAX_SEQ_LEN}

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return _plain_flux(denoiser_config) and bool(denoiser_config.get("guidance_embeds"))

    def timestep_options(self, model: DiffusionModel, scheduler: Any,
                         latent_shape: tuple[int, ...], steps: int) -> dict[str, Any]:
        """FluxPipeline's schedule: sigmas linspace(1, 1/steps) and mu from the token count
        (shift settings read from the scheduler config, as the pipeline reads them)."""
        import numpy as np

        config = scheduler.config
        tokens = math.ceil(latent_shape[-2] / 2) * math.ceil(latent_shape[-1] / 2)
        options: dict[str, Any] = {"mu": calculate_shift(
            tokens, config.get("base_image_seq_len", BASE_SEQ_LEN),
            config.get("max_image_seq_len", MAX_SEQ_LEN), config.get("base_shift", BASE_SHIFT),
            config.get("max_shift", MAX_SHIFT))}
        if not config.get("use_flow_sigmas", False):
            options["sigmas"] = np.linspace(1.0, 1 / steps, steps)
        return options

    # --- files -------------------------------------------------------------------------------
    def file_input_channels(self, header: dict[str, Any]) -> int | None:
        """The packed input width (img_in / x_embedder), with or without a key prefix."""
        for key, entry in header.items():
            if key.endswith(("img_in.weight", "x_embedder.weight")) and isinstance(entry, dict):
                shape = entry.get("shape") or []
                return int(shape[1]) if len(shape) == 2 else None
        return None

    def file_kind(self, keys: Any) -> str:
        """"unet" for a Flux transformer file of this variant (BFL or diffusers layout, with
        or without a ComfyUI ``model.diffusion_model.`` prefix), "checkpoint" for ComfyUI's
        all-in-one files (the transformer under that prefix with a VAE), else ""."""
        guidance = _flux_file_guidance(keys)
        if guidance is None or guidance != self.guidance_embeds:
            return ""
        return "checkpoint" if _loader("is_flux_checkpoint", "flux_checkpoint")(keys) else "unet"

    def load_checkpoint_state(self, state: dict[str, torch.Tensor], path: Path, device: Any,
                              dtype: Any, in_ram: Any = None
                              ) -> tuple[DiffusionModel, TextEncoder, Vae] | None:
        return _loader("load_flux_checkpoint", "flux_checkpoint")(state, path, device, dtype,
                                                                  self.id, in_ram)

    # --- files of one part ------------------------------------------------------------------
    def load_denoiser_file(self, path: Path, dtype: str) -> DiffusionModel:
        return _loader("load_flux_transformer_file")(path, dtype)

    def load_text_encoder_files(self, paths: list[Path]) -> TextEncoder:
        return _loader("load_flux_text_encoders", "flux_text")(paths, self.id)

    def lora_state(self, state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        return _loader("lora_state", "transformer_lora")("flux", state, source)

    # --- the denoiser ---------------------------------------------------------------------------
    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        """T5 states, CLIP pooled output, text/image position ids and (dev) the guidance."""
        import torch

        from pipelines.families.unet import batched

        transformer = model.denoiser
        dtype = self.denoiser_dtype(model)
        batch = x.shape[0]
        halves = [negative, positive] if cfg_batch else [positive]
        pooled, guidance = [], []
        for cond in halves:
            assert cond is not None
            if cond.extras.get("pooled") is None:
                raise ValueError("This Flux model needs the pooled CLIP-L output: encode the "
                                 "prompt with its text encoders (CLIP-L + T5)")
            pooled.append(batched(cond.extras["pooled"], batch, "pooled text embedding"))
            value = cond.extras.get("guidance")
            guidance.append(torch.full([batch], self.default_guidance if value is None
                                       else float(value), dtype=torch.float32))
        h, w = x.shape[2] + x.shape[2] % 2, x.shape[3] + x.shape[3] % 2
        inputs: dict[str, Any] = {
            "encoder_hidden_states": context.to(device=x.device, dtype=dtype),
            "pooled_projections": torch.cat(pooled).to(device=x.device, dtype=dtype),
            "txt_ids": torch.zeros(context.shape[1], 3, device=x.device, dtype=dtype),
            "img_ids": image_ids(h, w, x.device).to(dtype),
            "guidance": None,
            "return_dict": False,
        }
        if getattr(transformer.config, "guidance_embeds", False):
            inputs["guidance"] = torch.cat(guidance).to(x.device)
        add_references(inputs, halves, batch, x.device, dtype)  # Kontext's reference images
        return inputs

    def denoiser_in_channels(self, model: DiffusionModel) -> int:
        return super().denoiser_in_channels(model) // 4  # 2x2 patches per token

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        b, _, h, w = x.shape
        padded = x
        if h % 2 or w % 2:  # odd latent sizes: pad to whole patches (circular, as ComfyUI)
            padded = F.pad(x, (0, w % 2, 0, h % 2), mode="circular")
        timestep = t.expand(b).to(x.dtype) / 1000
        out = call_transformer(model.denoiser, pack(padded), timestep, inputs)
        return unpack(out, padded.shape[2], padded.shape[3])[:, :, :h, :w]


class FluxSchnell(FluxDev):
    id = "flux_schnell"
    label = "Flux.1 schnell"
    default_steps = 4
    guidance_embeds = False
    t5_max_length = 256  # FluxPipeline's schnell examples / ComfyUI: 256 tokens
    text_files_type = "flux_schnell"  # the same files as dev's; T5 padded to schnell's 256
    detection_note = "Flux transformer without guidance_in: the timestep-distilled schnell model"
    scheduler_defaults = {**FluxDev.scheduler_defaults, "shift": 1.0,
                          "use_dynamic_shifting": False}

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return _plain_flux(denoiser_config) and not denoiser_config.get("guidance_embeds")


def with_flux_shift(model: DiffusionModel, max_shift: float, base_shift: float, width: int,
                    height: int) -> DiffusionModel:
    """A copy of ``model`` sampled with ComfyUI ModelSamplingFlux's fixed shift: mu from
    ``width x height`` (16x16-pixel tokens); the exponential time shift with mu equals the
    static shift ``exp(mu)``, so the scheduler config gets that and no dynamic shifting."""
    import dataclasses

    mu = calculate_shift(int(width * height / (8 * 8 * 2 * 2)), base_shift=base_shift,
                         max_shift=max_shift)
    config = {**model.scheduler_config, "use_dynamic_shifting": False, "shift": math.exp(mu),
              "base_shift": base_shift, "max_shift": max_shift}
    return dataclasses.replace(model, scheduler_config=config)
