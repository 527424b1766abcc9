"""The single-file layouts of SD3/3.5 and Flux ControlNets, told apart by key names alone (a
header is enough; torch-free, so ``main.py models`` stays fast), as ComfyUI's
``load_controlnet_state_dict`` tells them apart: each layout's ``ControlNet.kind`` and the
family it steers. The converters are in ``pipelines.loading.transformer_controlnet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layout:
    """One single-file layout: every key in ``keys`` is present."""

    name: str
    keys: tuple[str, ...]
    kind: str
    family: str
    note: str


LAYOUTS = (
    Layout("xlabs", ("controlnet_blocks.0.weight", "double_blocks.0.img_attn.qkv.weight"),
           "flux_controlnet", "flux_dev", "Flux ControlNet, XLabs layout"),
    Layout("mistoline", ("controlnet_blocks.0.linear.weight",), "flux_controlnet", "flux_dev",
           "Flux ControlNet, MistoLine layout (not supported)"),
    Layout("sd35", ("controlnet_blocks.0.weight", "pos_embed_input.proj.weight",
                    "transformer_blocks.0.adaLN_modulation.1.bias"),
           "sd3_controlnet", "sd3", "SD3.5 ControlNet, Stability layout"),
    Layout("sd3", ("controlnet_blocks.0.weight", "pos_embed_input.proj.weight"),
           "sd3_controlnet", "sd3", "SD3 ControlNet, diffusers layout"),
    Layout("flux", ("controlnet_blocks.0.weight", "controlnet_x_embedder.weight"),
           "flux_controlnet", "flux_dev", "Flux ControlNet, diffusers layout"),
)
CLASSES = {"SD3ControlNetModel": "sd3_controlnet", "FluxControlNetModel": "flux_controlnet"}


def find_layout(keys: Any) -> Layout | None:
    """The layout of a file from its key names alone (a header is enough), or None."""
    names = set(keys)
    return next((layout for layout in LAYOUTS if set(layout.keys) <= names), None)


def describe(keys: Any) -> tuple[str, str] | None:
    """(family id, note) of a transformer ControlNet file's keys, or None."""
    layout = find_layout(keys)
    if layout is None:
        return None
    note = layout.note + (", Union" if "controlnet_mode_embedder.weight" in keys else "")
    family = layout.family
    if family == "flux_dev" and not {"guidance_in.in_layer.weight",
                                     "time_text_embed.guidance_embedder.linear_1.weight"} & set(keys):
        family = "flux_schnell"
    return family, note
