"""What a Stable unCLIP (SD 2.1 unCLIP) folder holds besides an SD2 model: the
``image_noising_scheduler`` config and the ``image_normalizer`` statistics (the CLIP image
embeddings' mean and std), read as data: the normalizer's class (``stable_diffusion.
StableUnCLIPImageNormalizer``) is never instantiated, its two tensors are read safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
