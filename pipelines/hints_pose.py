"""Pose hints: ViTPose keypoints of each person, drawn as OpenPose body skeletons (18 points,
the neck between the shoulders, OpenPose's limb colours) on black, the hint of openpose
ControlNets. Without a person detector the person fills the image (one box, the whole image);
with one (RT-DETR, as transformers' ViTPose docs pair them) every "person" box scored at least
``box_threshold`` gets its skeleton, all ViTPose crops in one batch. Limbs are drawn as lines,
not OpenPose's ellipses; keypoints below the score threshold and the limbs touching them are
left out."""

from __future__ import annotations

from typing import Any

import torch

# OpenPose body point -> COCO keypoint (None: the neck, the shoulders' midpoint)
_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
          (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
           (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
           (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255), (170, 0, 255),
           (255, 0, 255), (255, 0, 85), (255, 0, 170))


def openpose_points(keypoints: torch.Tensor, scores: torch.Tensor,
                    threshold: float) -> list[tuple[float, float] | None]:
    """The 18 OpenPose body points of one person's 17 COCO keypoints (None: not seen)."""
    points: list[tuple[float, float] | None] = []
    for coco in _FROM_COCO:
        if coco is None:
            seen = scores[5] >= threshold and scores[6] >= threshold
            mid = (keypoints[5] + keypoints[6]) / 2
            points.append((float(mid[0]), float(mid[1])) if seen else None)
        else:
            seen = scores[coco] >= threshold
            points.append((float(keypoints[coco][0]), float(keypoints[coco][1])) if seen else None)
    return points


def draw_skeleton(points: list[tuple[float, float] | None], width: int,
                  height: int) -> Any:
    """An OpenPose-style skeleton of ``points`` on black, a PIL image."""
    return draw_skeletons([points], width, height)


def draw_skeletons(people: list[list[tuple[float, float] | None]], width: int,
                   height: int) -> Any:
    """OpenPose-style skeletons of each person's ``points`` on one black canvas (PIL)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(canvas)
    thick = max(1, round(max(width, height) / 128))
    for points in people:
        for (a, b), color in zip(_LIMBS, _COLORS, strict=False):
            if points[a] is not None and points[b] is not None:
                draw.line([points[a], points[b]], fill=tuple(int(c * 0.6) for c in color),
                          width=thick * 2)
    for points in people:  # the joints over every limb
        for point, color in zip(points, _COLORS, strict=True):
            if point is not None:
                x, y = point
                draw.ellipse([x - thick * 2, y - thick * 2, x + thick * 2, y + thick * 2],
                             fill=color)
    return canvas


def person_boxes(detector: Any, picture: Any, device: str | torch.device = "cpu",
                 box_threshold: float = 0.3) -> list[list[float]]:
    """The "person" boxes of a PIL picture, COCO style [x, y, width, height] in pixels."""
    inputs = detector.processor(picture, return_tensors="pt")
    model = detector.model
    with torch.no_grad():
        output = model(pixel_values=inputs.pixel_values.to(device=device, dtype=model.dtype))
    output.logits, output.pred_boxes = output.logits.float().cpu(), output.pred_boxes.float().cpu()
    found = detector.processor.post_process_object_detection(
        output, target_sizes=[(picture.height, picture.width)], threshold=box_threshold)[0]
    return [[x0, y0, x1 - x0, y1 - y0] for (x0, y0, x1, y1), label in zip(
        found["boxes"].tolist(), found["labels"].tolist(), strict=True)
        if label == detector.person]


def pose_points(pose: Any, picture: Any, boxes: list[list[float]],
                device: str | torch.device = "cpu",
                threshold: float = 0.3) -> list[list[tuple[float, float] | None]]:
    """The OpenPose points of the person in each box (one ViTPose batch of all the crops)."""
    if not boxes:
        return []
    inputs = pose.processor(picture, boxes=[boxes], return_tensors="pt")
    model = pose.model
    with torch.no_grad():
        output = model(pixel_values=inputs.pixel_values.to(device=device, dtype=model.dtype))
    output.heatmaps = output.heatmaps.float().cpu()
    people = pose.processor.post_process_pose_estimation(output, boxes=[boxes])[0]
    return [openpose_points(p["keypoints"], p["scores"], threshold) for p in people]


def estimate_pose(pose: Any, image: torch.Tensor, device: str | torch.device = "cpu",
                  threshold: float = 0.3, detector: Any = None,
                  box_threshold: float = 0.3) -> torch.Tensor:
    """The pose hint of each image [B, H, W, 3] (0..1), same size, float32 on the CPU: the
    skeletons of the detector's people, or of the one person filling the image."""
    import numpy as np

    from pipelines.image import to_pil

    height, width = int(image.shape[1]), int(image.shape[2])
    hints = []
    for picture in to_pil(image):
        boxes = ([[0.0, 0.0, float(width), float(height)]] if detector is None
                 else person_boxes(detector, picture, device, box_threshold))
        people = pose_points(pose, picture, boxes, device, threshold)
        drawn = np.asarray(draw_skeletons(people, width, height), dtype=np.float32) / 255.0
        hints.append(torch.from_numpy(drawn))
    return torch.stack(hints)
