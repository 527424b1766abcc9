"""Tiny random Flux Redux parts: a SigLIP vision tower saved as a transformers folder (with
its image processor, 28 px in 14 px patches: 4 tokens) and a Redux file as ComfyUI's
style_models hold it (``redux_up.*`` / ``redux_down.*``), 32 -> 64 wide."""

from __future__ import annotations

from pathlib import Path

import torch

IMAGE_WIDTH, TEXT_WIDTH, SIZE = 32, 64, 28


def build_tiny_siglip(folder: str | Path, seed: int = 0) -> Path:
    """A tiny ``SiglipVisionModel`` + ``SiglipImageProcessor`` in ``folder``."""
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = SiglipVisionConfig(hidden_size=IMAGE_WIDTH, intermediate_size=37,
                                    num_hidden_layers=2, num_attention_heads=4,
                                    image_size=SIZE, patch_size=14)
        SiglipVisionModel(config).eval().save_pretrained(folder)
    SiglipImageProcessor(size={"height": SIZE, "width": SIZE}).save_pretrained(folder)
    return folder


def build_tiny_redux(path: str | Path, seed: int = 0, text_width: int = TEXT_WIDTH) -> Path:
    """A tiny Redux style model file (safetensors, ComfyUI's key names) making tokens
    ``text_width`` wide (the tiny Flux's T5 is 32)."""
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from safetensors.torch import save_file

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ReduxImageEncoder(redux_dim=IMAGE_WIDTH, txt_in_features=text_width)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return Path(path)
