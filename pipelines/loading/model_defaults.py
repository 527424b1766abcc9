"""A model's native image size and usual guidance scale, for sensible node defaults.

A diffusers folder saved by this app may say it in its ``studio.json``; every other model gets
its family's values (``ModelFamily.native_size``/``default_cfg``/``default_steps``), the family
found from the file's header alone (no weights are loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.families import ModelFamily, families
from pipelines.families.registry import UNKNOWN
from pipelines.untrusted_json import JsonInputError, load_object_file


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
            info = load_object_file(studio)
        except (OSError, JsonInputError):  # JsonInputError: a list, too deep, a FIFO
            info = {}
        family = str(info.get("family", ""))
        base = _family(family)
        size = info.get("default_size", base.native_size if base else None)
        cfg = info.get("default_cfg", base.default_cfg if base else None)
        steps = info.get("default_steps", base.default_steps if base else 20)
        if isinstance(size, int) and isinstance(cfg, int | float):
            return ModelDefaults(family, size, float(cfg), int(steps))
    from pipelines.errors import ModelLoadError
    from pipelines.loading.detect import detect

    try:
        family = detect(path).family
    except (ModelLoadError, OSError, ValueError):
        return None
    known = _family(family)
    if known is None:
        return None
    return ModelDefaults(family, known.native_size, known.default_cfg, known.default_steps)


def _family(family_id: str) -> ModelFamily | None:
    return next((f for f in families() if f.id == family_id and f.id != UNKNOWN), None)
