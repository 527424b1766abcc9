"""Pose estimation for pose hints: a ViTPose folder in the Hugging Face layout (config.json with
``model_type`` "vitpose", weights, preprocessor_config.json) that the user put in the
``preprocessors`` model folder; loaded with transformers offline, never downloaded. Only
``VitPoseForPoseEstimation`` is instantiated (no remote code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.preprocessor_folder import load_folder_parts, read_folder_config

_HINT = ("Put a ViTPose folder (config.json, model.safetensors, preprocessor_config.json, e.g. "
         "usyd-community/vitpose-base-simple) in the preprocessors model folder.")


@dataclass(eq=False)
class PoseModel:
    """A ViTPose network (COCO's 17 keypoints) and its image processor."""

    model: Any
    processor: Any
    source: str


def load_pose_model(path: str | Path, device: str | torch.device = "cpu") -> PoseModel:
    """Raises: ModelLoadError: not a folder, not a ViTPose model, or unreadable."""
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

    path, config = read_folder_config(path, "pose", _HINT)
    if config.get("model_type") != "vitpose":
        raise ModelLoadError(path, f"Not a ViTPose model (model_type "
                             f"{config.get('model_type')!r}).", hint=_HINT)
    model, processor = load_folder_parts(path, "pose", _HINT, lambda: (
        VitPoseForPoseEstimation.from_pretrained(str(path), local_files_only=True,
                                                 use_safetensors=True),
        VitPoseImageProcessor.from_pretrained(str(path), local_files_only=True)))
    if model.config.num_labels != 17:
        raise ModelLoadError(path, f"This ViTPose gives {model.config.num_labels} keypoints, not "
                                   "COCO's 17 body keypoints.", hint=_HINT)
    model.eval().requires_grad_(False).to(device)
    return PoseModel(model, processor, str(path))
