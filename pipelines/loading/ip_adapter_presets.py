"""IP-Adapter presets as ComfyUI_IPAdapter_plus's IPAdapterUnifiedLoader names them: each picks
the adapter file and the CLIP vision file by name pattern from the model folders (the released
file names), the SDXL adapter for SDXL-sized models (native size 1024) and the SD 1.5 one else."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.errors import StudioError

PRESETS: tuple[str, ...] = (
    "LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)",
    "VIT-G (medium strength)", "PLUS (high strength)", "PLUS FACE (portraits)",
    "FULL FACE - SD1.5 only (portraits stronger)",
)
# preset prefix -> (SD 1.5 pattern, SDXL pattern); None: no such adapter for that family
_ADAPTERS: dict[str, tuple[str | None, str | None]] = {
    "light": (r"sd15.light(.v11)?\.(safetensors|bin)$", None),
    "standard": (r"ip.adapter.sd15\.(safetensors|bin)$", r"ip.adapter.sdxl.vit.h\.(safetensors|bin)$"),
    "vit-g": (r"sd15.vit.g\.(safetensors|bin)$", r"ip.adapter.sdxl\.(safetensors|bin)$"),
    "plus (": (r"ip.adapter.plus.sd15\.(safetensors|bin)$", r"plus.sdxl.vit.h\.(safetensors|bin)$"),
    "plus face": (r"plus.face.sd15\.(safetensors|bin)$", r"plus.face.sdxl.vit.h\.(safetensors|bin)$"),
    "full": (r"full.face.sd15\.(safetensors|bin)$", None),
}
_VIT_G = r"(ViT.bigG.14.*39B.b160k|ipadapter.*sdxl|sdxl.*model)\.(bin|safetensors)"
_VIT_H = r"(ViT.H.14.*s32B.b79K|ipadapter.*sd15|sd1.?5.*model)\.(bin|safetensors)"


class PresetError(StudioError, ValueError):
    """No file of the preset in the model folders (or none for this model)."""


def _find(pattern: str, names: list[str], folder: str) -> str:
    found = sorted(n for n in names if re.search(pattern, Path(n).name, re.IGNORECASE))
    if not found:
        raise PresetError(f"no file matching {pattern!r} in the {folder} folder")
    return found[0]


def preset_files(preset: str, native_size: int, adapters: list[str],
                 clip_visions: list[str]) -> tuple[str, str]:
    """(adapter name, CLIP vision name) of ``preset`` among the names in the two folders.

    Raises:
        PresetError: an unknown preset, one the model's family has no adapter for, or no
            matching file.
    """
    key = next((k for k in _ADAPTERS if preset.lower().startswith(k)), None)
    if key is None:
        raise PresetError(f"unknown preset {preset!r}")
    xl = native_size >= 1024
    pattern = _ADAPTERS[key][1 if xl else 0]
    if pattern is None:
        raise PresetError(f"the {preset.split(' ')[0]} preset has no SDXL adapter")
    vision = _VIT_G if key == "vit-g" else _VIT_H
    return _find(pattern, adapters, "ipadapter"), _find(vision, clip_visions, "clip_vision")
