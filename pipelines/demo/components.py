"""The demo model's components (VAE, CLIP text encoder, UNet, scheduler) and its folder layout.

All three networks are stock diffusers/transformers classes at toy widths, so the saved folder
is an ordinary ``StableDiffusionPipeline`` checkpoint: 64x64 RGB <-> 16x16x4 latents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .dataset import IMAGE_SIZE
from .tokenizer import MODEL_MAX_LENGTH, load_tokenizer, write_tokenizer

LATENT_CHANNELS = 4
VAE_SCALE_FACTOR = 4
TEXT_HIDDEN = 128
DEFAULT_CFG = 2.5  # measured best for shapes (benchmarks/demo_quality.py, cfg 2.5 vs 3.5 vs 5)
DEFAULT_STEPS = 20

VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [16, 32, 64],
    "layers_per_block": 1,
    "latent_channels": LATENT_CHANNELS,
    # Few, wide groups: a 2-channel group keeps ~1 bit of a flat region's colour after norming.
    "norm_num_groups": 4,
    "sample_size": IMAGE_SIZE,
    "mid_block_add_attention": False,
}

UNET_CONFIG: dict[str, Any] = {
    "sample_size": IMAGE_SIZE // VAE_SCALE_FACTOR,
    "in_channels": LATENT_CHANNELS,
    "out_channels": LATENT_CHANNELS,
    # Attention only at 8x8 and 4x4: at 16x16 it would triple the cost for little gain.
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [32, 64, 64],
    "layers_per_block": 1,
    "cross_attention_dim": TEXT_HIDDEN,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}

SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "beta_end": 0.02,
    # v-prediction: at near-zero terminal SNR an epsilon model barely learns what the prompt
    # says about the global colour (its x0 estimate is divided by sqrt(alpha_bar) ~ 0.007).
    "prediction_type": "v_prediction",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}


def text_config(vocab_size: int, eos_id: int, bos_id: int) -> dict[str, Any]:
    """CLIPTextConfig kwargs for a tokenizer with the given special ids."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": TEXT_HIDDEN,
        "intermediate_size": 2 * TEXT_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": MODEL_MAX_LENGTH,
        "projection_dim": TEXT_HIDDEN,
        "hidden_act": "quick_gelu",
        "eos_token_id": eos_id,
        "bos_token_id": bos_id,
        "pad_token_id": eos_id,
    }


def build_components(seed: int, tokenizer_dir: str | Path) -> dict[str, Any]:
    """Fresh, seeded components: vae, text_encoder, tokenizer, unet, scheduler."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer_dir = write_tokenizer(tokenizer_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    torch.manual_seed(seed)
    vae = AutoencoderKL(**VAE_CONFIG)
    torch.manual_seed(seed + 1)
    cfg = text_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.bos_token_id)
    text_encoder = CLIPTextModel(CLIPTextConfig(**cfg))
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    sched_kwargs = {k: v for k, v in SCHEDULER_CONFIG.items() if not k.startswith("_")}
    sched_kwargs = {k: sched_kwargs[k] for k in ("num_train_timesteps", "beta_schedule",
                                                 "beta_start", "beta_end", "prediction_type")}
    scheduler = DDPMScheduler(**sched_kwargs)
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "unet": unet,
            "scheduler": scheduler}


MODEL_INDEX: dict[str, Any] = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.42.1",
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def save_model_folder(
    out_dir: str | Path,
    components: dict[str, Any],
    preview: dict[str, Any],
    extra_info: dict[str, Any] | None = None,
) -> Path:
    """Write a diffusers folder + ``studio.json`` + ``preview.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    components["vae"].save_pretrained(out / "vae")
    components["text_encoder"].save_pretrained(out / "text_encoder")
    components["unet"].save_pretrained(out / "unet")
    write_tokenizer(out / "tokenizer")
    (out / "scheduler").mkdir(exist_ok=True)
    sched = dict(SCHEDULER_CONFIG, _diffusers_version=MODEL_INDEX["_diffusers_version"])
    _write_json(out / "scheduler" / "scheduler_config.json", sched)
    _write_json(out / "model_index.json", MODEL_INDEX)
    studio = {
        "family": "demo",
        "default_size": IMAGE_SIZE,
        "latent_channels": LATENT_CHANNELS,
        "vae_scale_factor": VAE_SCALE_FACTOR,
        "default_steps": DEFAULT_STEPS,
        "default_cfg": DEFAULT_CFG,
        "default_sampler": "euler",
        "prediction_type": SCHEDULER_CONFIG["prediction_type"],
        "prompt_vocabulary": "see MODEL_CARD.md",
        **(extra_info or {}),
    }
    _write_json(out / "studio.json", studio)
    _write_json(out / "preview.json", preview)
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")


def encode_prompts(text_encoder: Any, tokenizer: Any, prompts: list[str]) -> torch.Tensor:
    """Token ids -> last hidden state, padded exactly like StableDiffusionPipeline does."""
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                    truncation=True, return_tensors="pt").input_ids
    return text_encoder(ids)[0]


def fit_latent_preview(latents: torch.Tensor, images: torch.Tensor) -> dict[str, Any]:
    """Least-squares linear map latent (C) -> RGB in [-1, 1] at latent resolution."""
    rgb = torch.nn.functional.avg_pool2d(images, VAE_SCALE_FACTOR)
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()
    y = rgb.permute(0, 2, 3, 1).reshape(-1, 3).double()
    x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    solution = torch.linalg.lstsq(x1, y).solution
    return {
        "latent_rgb_factors": [[round(float(v), 6) for v in row] for row in solution[:-1]],
        "latent_rgb_bias": [round(float(v), 6) for v in solution[-1]],
    }
