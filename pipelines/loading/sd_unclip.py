"""What a Stable unCLIP (SD 2.1 unCLIP) folder holds besides an SD2 model: the
``image_noising_scheduler`` config and the ``image_normalizer`` statistics (the CLIP image
embeddings' mean and std), read as data: the normalizer's class (``stable_diffusion.
StableUnCLIPImageNormalizer``) is never instantiated, its two tensors are read safely. A
single file's ``noise_augmentor.*`` tensors give the same (``file_noise_augmentation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.components import read_json

_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def read_noise_augmentation(folder: Path) -> dict[str, Any]:
    """``{"noising": scheduler config, "mean": [1, dim], "std": [1, dim]}`` (float32).

    Raises:
        ModelLoadError: a missing folder or file, or a normalizer without mean and std.
    """
    from pipelines.loading.readers import read_state_dict

    noising = read_json(folder / "image_noising_scheduler" / "scheduler_config.json")
    normalizer = folder / "image_normalizer"
    path = next((normalizer / name for name in _WEIGHTS if (normalizer / name).is_file()), None)
    if path is None:
        raise ModelLoadError(normalizer, "The image normalizer's weights are missing.")
    state, _ = read_state_dict(path)
    if "mean" not in state or "std" not in state:
        raise ModelLoadError(path, "Not an image normalizer (no mean and std).")
    mean, std = state["mean"].float().reshape(1, -1), state["std"].float().reshape(1, -1)
    if mean.shape != std.shape:
        raise ModelLoadError(path, "The normalizer's mean and std differ in width.")
    return {"noising": noising, "mean": mean, "std": std}


NOISING_TEMPLATE = "sd21-unclip"


def file_noise_augmentation(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """The noise augmentation of an original-layout unCLIP file: the template's noising
    schedule (squaredcos, as the original config says) over as many steps as the file's
    ``noise_augmentor.betas``; the embedding statistics from ``noise_augmentor.data_mean`` /
    ``data_std`` when the file has them, else 0 and 1, as ComfyUI uses (the original code
    keeps them out of its checkpoints; the H model's are 0 and 1).

    Raises:
        ModelLoadError: statistics of the wrong width.
    """
    from pipelines.loading.readers import CONFIGS

    noising = read_json(CONFIGS / NOISING_TEMPLATE / "image_noising_scheduler" /
                        "scheduler_config.json")
    betas = state.get("noise_augmentor.betas")
    if betas is not None and betas.ndim == 1 and betas.shape[0] > 0:
        noising = {**noising, "num_train_timesteps": int(betas.shape[0])}
    from diffusers import DDPMScheduler

    noising = dict(DDPMScheduler.from_config(noising).config)  # as a saved folder's: filled in
    width = int(state["model.diffusion_model.label_emb.0.0.weight"].shape[1]) // 2
    mean = state.get("noise_augmentor.data_mean", torch.zeros(1, width)).float().reshape(1, -1)
    std = state.get("noise_augmentor.data_std", torch.ones(1, width)).float().reshape(1, -1)
    if mean.shape[1] != width or std.shape[1] != width:
        raise ModelLoadError(path, f"Its noise_augmentor statistics are {mean.shape[1]} and "
                             f"{std.shape[1]} wide; the UNet takes {width}-wide embeddings.")
    return {"noising": noising, "mean": mean.clone(), "std": std.clone()}
