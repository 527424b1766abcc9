"""Tiny random preprocessor folders (Depth Anything with a Dinov2 backbone, ViTPose, an RT-DETR
person detector), saved with ``save_pretrained`` with their image processors: what a user puts
in the preprocessors folder, for tests."""

from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_depth_anything(directory: str | Path, seed: int = 0) -> Path:
    """Write a ``DepthAnythingForDepthEstimation`` (2-layer Dinov2, width 32, 14 px patches,
    input 28 px) and a ``DPTImageProcessor`` into ``directory``."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    directory = Path(directory)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=37, image_size=28, patch_size=14,
                            out_features=["stage1", "stage2"], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                 reassemble_factors=[2, 1], neck_hidden_sizes=[16, 32],
                                 fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(config).eval()
    model.save_pretrained(directory)
    DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=False,
                      ensure_multiple_of=14, do_pad=False).save_pretrained(directory)
    return directory


def build_tiny_vitpose(directory: str | Path, seed: int = 0) -> Path:
    """Write a ``VitPoseForPoseEstimation`` (2-layer ViT, width 32, 64 x 48 input, 17 COCO
    keypoints) and its ``VitPoseImageProcessor`` into ``directory``."""
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    directory = Path(directory)
    backbone = VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, image_size=[64, 48],
                                     patch_size=[16, 16], out_indices=[2])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone,
                                                         num_labels=17)).eval()
    model.save_pretrained(directory)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(directory)
    return directory


def build_tiny_rtdetr(directory: str | Path, seed: int = 0,
                      labels: tuple[str, ...] = ("person", "cat")) -> Path:
    """Write an ``RTDetrForObjectDetection`` (tiny ResNet backbone, width 32, 30 queries, the
    given labels) and its ``RTDetrImageProcessor`` (64 x 64 input) into ``directory``."""
    from transformers import (
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessor,
        RTDetrResNetConfig,
    )

    directory = Path(directory)
    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32],
                                  depths=[1, 1, 1, 1], out_features=["stage2", "stage3", "stage4"])
    config = RTDetrConfig(
        backbone_config=backbone, use_timm_backbone=False, use_pretrained_backbone=False,
        d_model=32, encoder_hidden_dim=32, encoder_in_channels=[16, 16, 32], encoder_layers=1,
        encoder_ffn_dim=64, encoder_attention_heads=2, decoder_in_channels=[32, 32, 32],
        decoder_ffn_dim=64, decoder_attention_heads=2, decoder_layers=1, num_queries=30,
        num_denoising=0, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RTDetrForObjectDetection(config).eval()
    model.save_pretrained(directory)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(directory)
    return directory
