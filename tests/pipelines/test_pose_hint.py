"""Pose hints: COCO keypoints to OpenPose's 18 body points, the skeleton drawing, and a tiny
random ViTPose folder from the preprocessors folder giving a hint image of the input's size."""

from __future__ import annotations

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.hints_pose import draw_skeleton, estimate_pose, openpose_points


def test_openpose_points_map_coco_and_put_the_neck_between_the_shoulders():
    keypoints = torch.tensor([[float(i), float(10 * i)] for i in range(17)])
    scores = torch.ones(17)
    points = openpose_points(keypoints, scores, 0.5)
    assert len(points) == 18
    assert points[0] == (0.0, 0.0)  # nose
    assert points[1] == (5.5, 55.0)  # neck: COCO shoulders 5 and 6
    assert points[2] == (6.0, 60.0) and points[5] == (5.0, 50.0)  # right, left shoulder
    assert points[14] == (2.0, 20.0) and points[15] == (1.0, 10.0)  # right, left eye
    scores[6] = 0.1
    unseen = openpose_points(keypoints, scores, 0.5)
    assert unseen[1] is None and unseen[2] is None and unseen[5] is not None


def test_skeleton_is_drawn_in_openpose_colours_on_black():
    import numpy as np

    points = [None] * 18
    points[1], points[2] = (20.0, 20.0), (40.0, 20.0)  # neck -> right shoulder
    canvas = np.asarray(draw_skeleton(points, 64, 48))
    assert tuple(canvas[20, 20]) == (255, 85, 0)  # the neck's colour
    assert tuple(canvas[20, 30]) == (153, 0, 0)  # the limb: first colour at 60%
    assert canvas[40, 60].sum() == 0


def test_tiny_vitpose_gives_a_hint_of_the_input_size(tmp_path):
    from pipelines.loading.pose import load_pose_model
    from pipelines.testing.tiny_depth import build_tiny_depth_anything, build_tiny_vitpose

    pose = load_pose_model(build_tiny_vitpose(tmp_path / "vitpose"))
    image = torch.rand(2, 40, 30, 3, generator=torch.Generator().manual_seed(0))
    hint = estimate_pose(pose, image, threshold=0.0)
    assert hint.shape == (2, 40, 30, 3) and hint.dtype == torch.float32
    assert hint.max() > 0 and 0 <= hint.min()
    assert estimate_pose(pose, image, threshold=2.0).max() == 0  # nothing seen: black
    with pytest.raises(ModelLoadError, match="Not a ViTPose model"):
        load_pose_model(build_tiny_depth_anything(tmp_path / "depth"))


def test_a_pose_folder_with_a_nesting_bomb_config_is_named_in_one_line(tmp_path):
    from pipelines.errors import ModelLoadError
    from pipelines.loading.pose import load_pose_model

    (tmp_path / "config.json").write_text("[" * 5000)  # json.loads raised RecursionError
    with pytest.raises(ModelLoadError, match="config.json cannot be read") as info:
        load_pose_model(tmp_path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)
