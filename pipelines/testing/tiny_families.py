"""Tiny random SD1 / SD2 / SDXL (base and refiner) models with each family's real block layout.

Each is built from the shipped config template of its family with only the widths shrunk
(same block types, transformer depth pattern, projection kind, 64-wide attention heads for
SD2/SDXL, SDXL's text_time embedding and two encoders, SD2's OpenCLIP encoder), saved both
as a diffusers folder and, through ``pipelines.loading.convert``, as an original-layout single file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.loading.convert import pipeline_to_original, save_single_file
from pipelines.loading.readers import CONFIGS, clip_tokenizer, read_json

VARIANTS: dict[str, str] = {  # variant -> family
    "sd1": "sd1", "sd2": "sd2", "sd2-v": "sd2", "sdxl": "sdxl", "sdxl-refiner": "sdxl_refiner",
}
_UNET: dict[str, dict[str, Any]] = {
    "sd1": {"block_out_channels": [32, 32, 64, 64], "attention_head_dim": 8},
    "sd2": {"block_out_channels": [32, 32, 64, 64], "attention_head_dim": [1, 1, 1, 1]},
    "sdxl": {"block_out_channels": [32, 64, 64], "attention_head_dim": [1, 1, 1],
             "transformer_layers_per_block": [1, 2, 3], "addition_time_embed_dim": 8},
    "sdxl_refiner": {"block_out_channels": [32, 64, 64, 64], "attention_head_dim": [1, 1, 1, 1],
                     "transformer_layers_per_block": 2, "addition_time_embed_dim": 8},
}
_TEXT_WIDTH = {"text_encoder": 32, "text_encoder_2": 64}


@dataclass(frozen=True)
class TinyModel:
    """A tiny model of one family: the diffusers ``folder`` and the single ``file`` made from it."""

    variant: str
    family: str
    folder: Path
    file: Path


def _text_encoder(template: dict[str, Any], width: int, layers: int) -> Any:
    import transformers

    config = {k: v for k, v in template.items() if k not in {"torch_dtype", "_name_or_path"}}
    config.update(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                  num_attention_heads=max(1, width // 64), projection_dim=width)
    cls = getattr(transformers, config["architectures"][0])
    return cls(transformers.CLIPTextConfig.from_dict(config)).eval()


def _components(variant: str, family: str, inpainting: bool = False) -> dict[str, Any]:
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    template = CONFIGS / variant
    index = read_json(template / "model_index.json")
    parts: dict[str, Any] = {}
    widths = []
    for name in ("text_encoder", "text_encoder_2"):
        if (index.get(name) or [None])[0] is None:
            continue
        width = _TEXT_WIDTH[name] if family.startswith("sdxl") else 32
        parts[name] = _text_encoder(read_json(template / name / "config.json"), width, 3)
        widths.append(width)
        tok_name = name.replace("text_encoder", "tokenizer")
        pad = read_json(template / tok_name / "tokenizer_config.json")["pad_token"]
        parts[tok_name] = clip_tokenizer(pad)
    unet = dict(read_json(template / "unet" / "config.json"), **_UNET[family])
    unet["cross_attention_dim"] = sum(widths)
    if inpainting:  # [latent, mask, masked-image latent]
        unet["in_channels"] = 2 * int(unet["in_channels"]) + 1
    if family == "sdxl":
        unet["projection_class_embeddings_input_dim"] = widths[-1] + 6 * 8
    elif family == "sdxl_refiner":
        unet["projection_class_embeddings_input_dim"] = widths[-1] + 5 * 8
    parts["unet"] = UNet2DConditionModel.from_config(unet).eval()
    vae = dict(read_json(template / "vae" / "config.json"), block_out_channels=[32, 32, 32, 32])
    parts["vae"] = AutoencoderKL.from_config(vae).eval()
    scheduler = read_json(template / "scheduler" / "scheduler_config.json")
    parts["scheduler"] = getattr(diffusers, scheduler["_class_name"]).from_config(scheduler)
    return parts


def build_family(variant: str, directory: str | Path, seed: int = 0, inpainting: bool = False
                 ) -> TinyModel:
    """Build ``<directory>/<variant>/`` (diffusers folder) and ``<variant>.safetensors``.

    Args:
        variant: sd1 | sd2 | sd2-v | sdxl | sdxl-refiner.
        directory: Where both go (created).
        seed: Seed for the random weights.
        inpainting: Build the inpainting variant (UNet input 2C + 1 channels) instead, as
            ``<variant>-inpainting/`` and ``<variant>-inpainting.safetensors``.

    Returns:
        The two paths. An SD2 file records v-prediction in ``modelspec.prediction_type``
        metadata, since the weights alone do not tell.
    """
    family = VARIANTS[variant]
    directory = Path(directory)
    stem = f"{variant}-inpainting" if inpainting else variant
    folder = directory / stem
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = _components(variant, family, inpainting)
        for module in parts.values():
            if isinstance(module, torch.nn.Module):  # LayerNorm/GroupNorm start at 1/0: vary them
                for name, param in module.named_parameters():
                    if "norm" in name:
                        param.data.add_(torch.randn_like(param) * 0.05)
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.save_pretrained(folder / name)
    shutil.copy(CONFIGS / variant / "model_index.json", folder / "model_index.json")
    (folder / "studio.json").write_text(json.dumps({"family": family}))
    state = pipeline_to_original(family, parts["unet"], parts["vae"], parts.get("text_encoder"),
                                 parts.get("text_encoder_2"))
    metadata = {"modelspec.prediction_type": "v" if variant == "sd2-v" else "epsilon"}
    file = save_single_file(directory / f"{stem}.safetensors", state, metadata)
    return TinyModel(variant, family, folder, file)
