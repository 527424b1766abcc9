"""ComfyUI's model folder names over ours, for a ComfyUI-compatible front end: what
``GET /models``, ``GET /models/{folder}`` and ``GET /embeddings`` answer, and the file lists
of object_info's combo inputs.

Only names are listed (a walk of the model folders, as the window's pickers do): no file is
opened, no model loaded. ComfyUI's names for folders (``checkpoints``, ``loras``, ``unet``,
``clip``, ...) map onto our model kinds (``pipelines.loading.folders.KINDS``); a ComfyUI
folder we keep no models of lists nothing, an unknown one is None (the server's 404).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

# ComfyUI's folder_paths names (and its legacy aliases) -> our model kind
_ALIASES = {"unet": "diffusion_models", "clip": "text_encoders", "t2i_adapter": "controlnet"}
# ComfyUI folders with no models of ours (a client asking gets an empty list, as from an
# empty ComfyUI folder)
_COMFY_ONLY = ("configs", "style_models", "gligen", "hypernetworks", "photomaker",
               "classifiers", "diffusers", "model_patches", "audio_encoders", "latent_upscale_models")
# what ComfyUI's LoadImage lists from the input folder (its "image" content types)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def folder_names() -> list[str]:
    """The folder names ``GET /models`` lists: ours, ComfyUI's aliases and its other folders."""
    from pipelines.loading.folders import KINDS

    return sorted({*KINDS, *_ALIASES, *_COMFY_ONLY} - {"preprocessors"})


def kind_of(folder: str) -> str | None:
    """Our model kind for a ComfyUI folder name ("" for a ComfyUI folder we keep nothing in,
    None for a name ComfyUI does not know either)."""
    from pipelines.loading.folders import KINDS

    folder = _ALIASES.get(folder, folder)
    if folder in KINDS and folder != "preprocessors":
        return folder
    return "" if folder in _COMFY_ONLY else None


def models_list(folder: str) -> list[str] | None:
    """The file names in ComfyUI's ``folder`` as ComfyUI lists them (relative, with ``/``,
    sorted; our diffusers folders by their folder name), or None for an unknown folder.

    Raises:
        ModelFolderConfigError: the model folder config file is malformed (one line naming it).
    """
    kind = kind_of(folder)
    if kind is None:
        return None
    if not kind:
        return []
    from pipelines.loading.folders import roots, scan

    names: list[str] = []
    try:
        bases = [r for r in roots(kind) if r.is_dir()]
        for path in scan(kind):
            root = next((r for r in bases if r in path.parents), None)
            names.append(PurePath(path.relative_to(root) if root else path.name).as_posix())
    except OSError:  # an unreadable folder: nothing listed, as ComfyUI lists nothing then
        return []
    return sorted(set(names))


def embeddings_list() -> list[str]:
    """``GET /embeddings``: the embedding names without their extension, as ComfyUI lists
    them (a prompt names one as ``embedding:name``)."""
    names = models_list("embeddings") or []
    return sorted({os.path.splitext(name)[0] for name in names})


def input_images(folder: Path | None = None) -> list[str]:
    """The image files at the top of the input folder (what ComfyUI's LoadImage lists)."""
    if folder is None:
        from pipelines.loading.file_policy import input_dir

        folder = input_dir()
    try:
        return sorted(e.name for e in os.scandir(folder)
                       if e.is_file() and not e.name.startswith(".")
                       and e.name.lower().endswith(IMAGE_SUFFIXES))
    except (OSError, ValueError):  # no input folder yet
        return []


def files(folder: str) -> list[str]:
    """The names a combo of ComfyUI's ``folder`` offers (``"input"``: the input images); a
    malformed model folder config lists nothing here (the /models answer names it)."""
    from pipelines.loading.folders import ModelFolderConfigError

    if folder == "input":
        return input_images()
    try:
        return models_list(folder) or []
    except ModelFolderConfigError:
        return []
