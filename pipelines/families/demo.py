"""The demo model shipped in resources/models/demo: an SD1-shaped toy trained on shapes
(64x64 images, 16x16x4 latents, v-prediction); its folder says ``"family": "demo"``."""

from __future__ import annotations

from pipelines.families.base import LatentFormat, ModelFamily


class Demo(ModelFamily):
    id = "demo"
    label = "Demo (shapes)"
    # its preview.json carries the fitted latent -> RGB table
    latent = LatentFormat(channels=4, scaling_factor=0.18215, spatial_factor=4)
    native_size = 64
    default_cfg = 2.5
