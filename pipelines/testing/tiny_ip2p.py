"""A tiny random InstructPix2Pix model (SD 1.x layout, UNet with 8 input channels) saved as a
diffusers folder whose studio.json names the ``sd1_ip2p`` family (its cross-attention width,
32, is no real family's); it also loads in diffusers' StableDiffusionInstructPix2PixPipeline."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.testing.tiny import build_tiny_sd


def build_tiny_ip2p(directory: str | Path, seed: int = 0) -> Path:
    """Build ``directory`` (about a second on a CPU) and return it."""
    folder = build_tiny_sd(directory, seed=seed, in_channels=8)
    (Path(folder) / "studio.json").write_text(json.dumps({"family": "sd1_ip2p"}))
    return Path(folder)
