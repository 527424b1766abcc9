"""A model's native image size and usual guidance scale, for sensible node defaults.

One obvious place (to become part of "model families" later): a diffusers folder saved by
this app says it in its ``studio.json``; other models get their family's values, found from
the file's header alone (no weights are loaded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# family -> (native size in pixels, usual cfg, usual steps)
FAMILY_DEFAULTS: dict[str, tuple[int, float, int]] = {
    "sd1": (512, 7.5, 20),
    "sd2": (768, 7.5, 20),
    "sdxl": (1024, 7.0, 25),
    "sdxl_refiner": (1024, 7.0, 25),
}


@dataclass(frozen=True)
class ModelDefaults:
    family: str
    size: int  # the side of the square images it was trained on
    cfg: float
    steps: int


_cache: dict[tuple[str, float], ModelDefaults | None] = {}


def model_defaults(path: str | Path) -> ModelDefaults | None:
    """What a new graph for the model at ``path`` should use; None when it is not known."""
    path = Path(path)
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        return None
    if key not in _cache:
        _cache[key] = _find(path)
    return _cache[key]


def _find(path: Path) -> ModelDefaults | None:
    studio = path / "studio.json"
    if studio.is_file():
        try:
            info = json.loads(studio.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        family = str(info.get("family", ""))
        base = FAMILY_DEFAULTS.get(family)
        size = info.get("default_size", base[0] if base else None)
        cfg = info.get("default_cfg", base[1] if base else None)
        steps = info.get("default_steps", base[2] if base else 20)
        if isinstance(size, int) and isinstance(cfg, int | float):
            return ModelDefaults(family, size, float(cfg), int(steps))
    from pipelines.detect import detect
    from pipelines.errors import ModelLoadError

    try:
        family = detect(path).family
    except (ModelLoadError, OSError, ValueError):
        return None
    if family not in FAMILY_DEFAULTS:
        return None
    size, cfg, steps = FAMILY_DEFAULTS[family]
    return ModelDefaults(family, size, cfg, steps)
