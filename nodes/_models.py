"""Where model files are looked up: the shipped resources and the user's model folders."""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
BUILTIN_MODELS = RESOURCES / "models"


def user_models_dir() -> Path:
    """The user's models folder (``$STUDIO_MODELS`` or the platform's user data dir)."""
    override = os.environ.get("STUDIO_MODELS")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("diffusion-studio", appauthor=False)) / "models"


def model_roots(kind: str) -> list[Path]:
    """Folders searched for models of ``kind`` (e.g. ``checkpoints``), in order."""
    return [user_models_dir() / kind, BUILTIN_MODELS]


def resolve_model(name: str, kind: str) -> Path:
    """Turn a model name or path into an existing path; raises FileNotFoundError."""
    candidate = Path(name).expanduser()
    if candidate.is_absolute() or candidate.exists():
        if candidate.exists():
            return candidate
        raise FileNotFoundError(f"model {name!r} not found (no such file or folder)")
    for root in model_roots(kind):
        if (root / name).exists():
            return root / name
    searched = ", ".join(str(r) for r in model_roots(kind))
    raise FileNotFoundError(
        f"model {name!r} not found; looked in {searched}. Put it in one of those folders "
        f"or give a full path."
    )


def list_models(kind: str) -> list[str]:
    """Names of the models of ``kind`` found in the model folders (for pickers)."""
    names: list[str] = []
    for root in model_roots(kind):
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir() and (entry / "model_index.json").exists():
                    names.append(entry.name)
                elif entry.suffix in {".safetensors", ".ckpt", ".pt", ".pth"}:
                    names.append(entry.name)
    return list(dict.fromkeys(names))
