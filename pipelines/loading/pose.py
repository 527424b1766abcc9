"""Pose estimation for pose hints: a ViTPose folder in the Hugging Face layout (config.json with
``model_type`` "vitpose", weights, preprocessor_config.json) that the user put in the
``preprocessors`` model folder; loaded with transformers offline, never downloaded. Only
``VitPoseForPoseEstimation`` is instantiated (no remote code)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

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

    path = Path(path)
    if path.is_file() and (path.parent / "config.json").is_file():
        path = path.parent  # the model picker lists the folder's weights file
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelLoadError(path, "Not a pose model folder (no readable config.json).",
                             hint=_HINT) from None
    if not isinstance(config, dict) or config.get("model_type") != "vitpose":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise ModelLoadError(path, f"Not a ViTPose model (model_type {kind!r}).", hint=_HINT)
    if not (path / "preprocessor_config.json").is_file():
        raise ModelLoadError(path, "No preprocessor_config.json.", hint=_HINT)
    try:
        model = VitPoseForPoseEstimation.from_pretrained(str(path), local_files_only=True,
                                                         use_safetensors=True)
        processor = VitPoseImageProcessor.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # a broken folder: say what, in one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(path, f"The pose model could not be read ({detail}).",
                             hint=_HINT) from None
    if model.config.num_labels != 17:
        raise ModelLoadError(path, f"This ViTPose gives {model.config.num_labels} keypoints, not "
                                   "COCO's 17 body keypoints.", hint=_HINT)
    model.eval().requires_grad_(False).to(device)
    return PoseModel(model, processor, str(path))
