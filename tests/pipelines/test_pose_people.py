"""Several people per pose hint: an RT-DETR person detector folder gives boxes, ViTPose runs
once on all their crops, and every skeleton is drawn. The tiny random models cannot find real
people, so the plumbing is tested: N person boxes -> a ViTPose batch of N -> N skeletons, and
the drawing of fixed keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.hints_pose import draw_skeletons, estimate_pose, person_boxes, pose_points


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from pipelines.loading.pose import load_person_detector, load_pose_model
    from pipelines.testing.tiny_depth import build_tiny_rtdetr, build_tiny_vitpose

    root = tmp_path_factory.mktemp("pose-people")
    return (load_pose_model(build_tiny_vitpose(root / "vitpose")),
            load_person_detector(build_tiny_rtdetr(root / "rtdetr")))


def _batches(module: torch.nn.Module) -> tuple[list[int], object]:
    seen: list[int] = []
    handle = module.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(int(kw["pixel_values"].shape[0])), with_kwargs=True)
    return seen, handle


def test_each_person_box_gets_one_crop_in_one_vitpose_batch(models):
    from pipelines.image import to_pil

    pose, detector = models
    image = torch.rand(1, 40, 48, 3, generator=torch.Generator().manual_seed(0))
    picture = to_pil(image)[0]
    boxes = person_boxes(detector, picture, box_threshold=0.0)
    labels_kept = len(boxes)
    assert labels_kept >= 2  # the random detector's "person" queries, all kept at 0
    assert all(len(b) == 4 and b[2] >= 0 and b[3] >= 0 for b in boxes)
    seen, handle = _batches(pose.model)
    try:
        people = pose_points(pose, picture, boxes, threshold=0.0)
        hint = estimate_pose(pose, image, threshold=0.0, detector=detector, box_threshold=0.0)
    finally:
        handle.remove()
    assert seen == [labels_kept, labels_kept]  # one batch of N crops, per call
    assert len(people) == labels_kept and all(len(p) == 18 for p in people)
    assert hint.shape == (1, 40, 48, 3) and hint.max() > 0
    # nobody found: no ViTPose call, a black hint
    seen, handle = _batches(pose.model)
    try:
        empty = estimate_pose(pose, image, detector=detector, box_threshold=1.1)
    finally:
        handle.remove()
    assert seen == [] and empty.max() == 0


def test_only_person_boxes_are_kept(models):
    from pipelines.image import to_pil

    _, detector = models
    picture = to_pil(torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(1)))[0]
    everything = detector.processor.post_process_object_detection(
        detector.model(**detector.processor(picture, return_tensors="pt")),
        target_sizes=[(32, 32)], threshold=0.0)[0]
    people = int((everything["labels"] == detector.person).sum())
    assert 0 < people < len(everything["labels"])  # the tiny detector labels both kinds
    assert len(person_boxes(detector, picture, box_threshold=0.0)) == people


def test_every_skeleton_is_drawn():
    first = [None] * 18
    first[1], first[2] = (10.0, 10.0), (20.0, 10.0)
    second = [None] * 18
    second[1], second[5] = (40.0, 30.0), (50.0, 30.0)
    canvas = np.asarray(draw_skeletons([first, second], 64, 48))
    assert tuple(canvas[10, 10]) == (255, 85, 0) and tuple(canvas[30, 40]) == (255, 85, 0)
    assert tuple(canvas[10, 15]) == (153, 0, 0)  # first person's neck -> right shoulder
    assert tuple(canvas[30, 45]) == (153, 51, 0)  # second person's neck -> left shoulder
    assert draw_skeletons([], 8, 8).getbbox() is None  # nobody: black


def test_a_detector_without_a_person_label_is_refused(tmp_path):
    from pipelines.loading.pose import load_person_detector
    from pipelines.testing.tiny_depth import build_tiny_rtdetr, build_tiny_vitpose

    with pytest.raises(ModelLoadError, match="no \"person\" label"):
        load_person_detector(build_tiny_rtdetr(tmp_path / "cats", labels=("cat", "dog")))
    with pytest.raises(ModelLoadError, match="Not an RT-DETR"):
        load_person_detector(build_tiny_vitpose(tmp_path / "vitpose"))
