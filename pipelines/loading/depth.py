"""Depth estimation for depth hints: a Depth Anything or DPT (MiDaS 3) folder in the Hugging Face
layout (config.json, weights, preprocessor_config.json) that the user put in the
``preprocessors`` model folder; loaded with transformers offline, never downloaded. Only these
two model types are instantiated (no remote code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.errors import ModelLoadError
from pipelines.loading.preprocessor_folder import load_folder_parts, read_folder_config

_HINT = ("Put a Depth Anything or DPT folder (config.json, model.safetensors, "
         "preprocessor_config.json) in the preprocessors model folder.")
_CLASSES = {"depth_anything": "DepthAnythingForDepthEstimation", "dpt": "DPTForDepthEstimation"}


@dataclass(eq=False)
class DepthModel:
    """A depth estimation network and its image processor."""

    model: Any
    processor: Any
    source: str


def load_depth_model(path: str | Path, device: str | torch.device = "cpu") -> DepthModel:
    """Raises: ModelLoadError: not a folder, not a Depth Anything / DPT model, or unreadable."""
    import transformers
    from transformers import AutoImageProcessor

    path, config = read_folder_config(path, "depth", _HINT)
    model_type = config.get("model_type")
    if model_type not in _CLASSES:
        raise ModelLoadError(path, f"Not a Depth Anything or DPT model (model_type "
                             f"{model_type!r}).", hint=_HINT)
    model, processor = load_folder_parts(path, "depth", _HINT, lambda: (
        getattr(transformers, _CLASSES[model_type]).from_pretrained(
            str(path), local_files_only=True, use_safetensors=True),
        AutoImageProcessor.from_pretrained(str(path), local_files_only=True)))
    model.eval().requires_grad_(False).to(device)
    return DepthModel(model, processor, str(path))


def estimate_depth(depth: DepthModel, image: torch.Tensor,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """Relative depth of each image [B, H, W, 3] (0..1): near is white, far is black (as the
    depth ControlNets were trained), normalised per image, at the input's size.

    Returns:
        float32 [B, H, W, 3] on the CPU.
    """
    from pipelines.image import to_pil

    height, width = image.shape[1], image.shape[2]
    pixels = depth.processor(images=to_pil(image), return_tensors="pt").pixel_values
    model = depth.model
    with torch.no_grad():
        predicted = model(pixel_values=pixels.to(device=device, dtype=model.dtype))
    maps = predicted.predicted_depth.float().cpu()
    if maps.dim() == 3:
        maps = maps[:, None]
    maps = F.interpolate(maps, size=(height, width), mode="bicubic", align_corners=False)
    low = maps.amin(dim=(1, 2, 3), keepdim=True)
    high = maps.amax(dim=(1, 2, 3), keepdim=True)
    maps = (maps - low) / (high - low).clamp_min(1e-8)
    return maps.clamp(0, 1).repeat(1, 3, 1, 1).movedim(1, -1).contiguous()
