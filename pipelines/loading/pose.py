"""Pose estimation for pose hints: a ViTPose folder in the Hugging Face layout (config.json with
``model_type`` "vitpose", weights, preprocessor_config.json) that the user put in the
``preprocessors`` model folder, and optionally an RT-DETR person detector folder (the pairing
transformers' ViTPose docs use) for several people per image; loaded with transformers
offline, never downloaded. Only ``VitPoseForPoseEstimation`` and
``RTDetrForObjectDetection`` are instantiated (no remote code)."""

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


_DETECTOR_HINT = ("Put an RT-DETR folder (config.json, model.safetensors, "
                  "preprocessor_config.json, e.g. PekingU/rtdetr_r50vd_coco_o365) in the "
                  "preprocessors model folder.")


@dataclass(eq=False)
class PersonDetector:
    """An RT-DETR object detector, its image processor and the label id of "person"."""

    model: Any
    processor: Any
    person: int
    source: str


def load_person_detector(path: str | Path, device: str | torch.device = "cpu") -> PersonDetector:
    """An RT-DETR folder (``model_type`` "rt_detr") whose labels include "person"; only
    ``RTDetrForObjectDetection`` is instantiated.

    Raises: ModelLoadError: not a folder, not an RT-DETR model, no "person" label, or unreadable.
    """
    from transformers import RTDetrForObjectDetection, RTDetrImageProcessor

    path, config = read_folder_config(path, "person detector", _DETECTOR_HINT)
    if config.get("model_type") != "rt_detr":
        raise ModelLoadError(path, f"Not an RT-DETR detector (model_type "
                             f"{config.get('model_type')!r}).", hint=_DETECTOR_HINT)
    model, processor = load_folder_parts(path, "person detector", _DETECTOR_HINT, lambda: (
        RTDetrForObjectDetection.from_pretrained(str(path), local_files_only=True,
                                                 use_safetensors=True),
        RTDetrImageProcessor.from_pretrained(str(path), local_files_only=True)))
    person = next((int(i) for i, label in model.config.id2label.items()
                   if str(label).lower() == "person"), None)
    if person is None:
        raise ModelLoadError(path, "This detector has no \"person\" label.", hint=_DETECTOR_HINT)
    model.eval().requires_grad_(False).to(device)
    return PersonDetector(model, processor, person, str(path))
