"""The demo model's super-resolution stage (resources/models/demo-sr, trained by
``main.py train-demo --stage superres``): a tiny pixel-space UNet taking the demo's 64px
images to 128px, conditioned like DeepFloyd IF stage II (the resized, noise-augmented image
concatenated; the augmentation level as class label) and on the demo text encoder's states,
which it does not carry (encode the prompt with the demo model). Its folder says
``"family": "demo_sr"``."""

from __future__ import annotations

from pipelines.families.base import Component, ModelFamily
from pipelines.families.deepfloyd_if import IF_PIXELS


class DemoSR(ModelFamily):
    id = "demo_sr"
    label = "Demo super-resolution (64 -> 128 px)"
    components = (
        Component("unet", ("diffusers.UNet2DConditionModel",), "denoiser"),
        Component("scheduler", ("diffusers.*",), "scheduler"),
        Component("image_noising_scheduler", ("diffusers.*",), "scheduler"),
    )
    text_encoders = ()
    latent = IF_PIXELS
    native_size = 128
    default_cfg = 1.0
    default_steps = 10
