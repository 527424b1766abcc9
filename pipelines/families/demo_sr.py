"""The demo model's super-resolution stage (resources/models/demo-sr, trained by
``main.py train-demo --stage superres``): a tiny pixel-space UNet taking the demo's 64px
images to 128px, conditioned like DeepFloyd IF stage II (the resized, noise-augmented image
concatenated; the augmentation level as class label) and on the demo text encoder's states,
which it does not carry (encode the prompt with the demo model). It predicts the difference
from the bicubic-resized input (``DEMO_SR_CONDITION``). Its folder says ``"family": "demo_sr"``.
"""

from __future__ import annotations

from pipelines.families.base import Component, ModelFamily
from pipelines.families.deepfloyd_if import IF_PIXELS, SRCondition

# bicubic with pixel centres (bilinear with corners aligned stretches the picture by up to a
# quarter pixel, differently at every position, which a network trained on crops cannot
# undo); the UNet predicts the residual to it times 4 (x0 "sample" prediction)
DEMO_SR_CONDITION = SRCondition(resize="bicubic", align_corners=False, residual_scale=4.0)


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
    sr_condition = DEMO_SR_CONDITION
    native_size = 128
    default_cfg = 1.0
    default_steps = 10
