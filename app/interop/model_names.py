"""Model names as ComfyUI expects them: real file names, with their extension.

AUTOMATIC1111 writes a model by its stem (``Model: v1-5-pruned-emaonly``, ``<lora:film:0.8>``)
and ComfyUI's ``validate_prompt`` accepts only a name from its folder listing
(``v1-5-pruned-emaonly.safetensors``). A name is completed from the model folders when a file
of that stem is there (``.safetensors`` preferred), else ``.safetensors`` is assumed, the
format nearly every shared model now comes in.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

# what ComfyUI's folder_paths lists as model files (supported_pt_extensions)
COMFY_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pt2", ".bin", ".pth", ".pkl", ".sft",
                    ".gguf")
_PREFERENCE = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin")


def has_extension(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in COMFY_EXTENSIONS


def file_name(name: str, kind: str, default: str = ".safetensors") -> tuple[str, bool]:
    """``name`` as a model file name of ``kind`` (a models folder, e.g. ``"loras"``), and
    whether that file was found in the model folders (False: the extension is assumed).

    A name that already has a model extension, an empty name, a full path, and a diffusers
    folder found under that name are returned as they are.
    """
    if not name or has_extension(name):
        return name, bool(name)
    if Path(name).expanduser().is_absolute():  # a path the user gave: not ours to rename
        return name, _exists(Path(name).expanduser())
    candidates = _files_named(name, kind)
    if candidates is None:  # a folder model (diffusers) of that name
        return name, True
    if candidates:
        best = min(candidates, key=lambda p: _rank(p.suffix.lower()))
        return f"{name}{best.suffix}", True
    return f"{name}{default}", False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _rank(suffix: str) -> int:
    return _PREFERENCE.index(suffix) if suffix in _PREFERENCE else len(_PREFERENCE)


def _files_named(name: str, kind: str) -> list[Path] | None:
    """The model files of ``kind`` whose name without extension is ``name``; None when
    ``name`` is a folder model."""
    from pipelines.loading.folders import roots

    found: list[Path] = []
    if ".." in PurePosixPath(name).parts or "\\" in name:  # never looks outside its folders
        return found
    try:
        for root in roots(kind):
            base = root / name
            if not root.is_dir():
                continue
            if base.is_dir():  # a diffusers folder (or one named so): kept as it is
                return None
            if base.parent.is_dir():
                found += [p for p in base.parent.glob(f"{_glob_escape(base.name)}.*")
                          if p.is_file() and p.suffix.lower() in COMFY_EXTENSIONS]
    except (OSError, ValueError):  # a name no file system takes (NUL, lone surrogates)
        return []
    return found


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
