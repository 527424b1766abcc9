"""Adding a model folder the user picked to the model folder config (``models.toml``), so its
files become model roots for the window and the command line alike, under the same
confinement rules as every other model folder (``pipelines.loading.file_policy``: a file
there that is a symlink leading out of the folder is still refused).

A picked folder is read as what it looks like: an AUTOMATIC1111 install
(``models/Stable-diffusion``), a ComfyUI-style models folder (``checkpoints/``, ``loras/``,
... inside), or else a plain folder of models of one kind (``layout = "flat"``). The entry is
appended as text, so the comments and entries already in the file stay as they are.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from pipelines.loading.folders import KINDS, ModelFolderConfigError, extra_entries, model_roots

LAYOUTS = ("comfyui", "a1111", "flat")


def detect_layout(folder: Path) -> str:
    """``a1111``, ``comfyui`` or ``flat`` (see the module docstring)."""
    if (folder / "models" / "Stable-diffusion").is_dir():
        return "a1111"
    if any((folder / kind).is_dir() for kind in KINDS):
        return "comfyui"
    return "flat"


def with_extra_folder(text: str, folder: Path, layout: str, kind: str = "checkpoints",
                      config: Path | None = None) -> str:
    """``text`` (the config file's) with one more ``[[extra]]`` entry for ``folder``.

    Raises:
        ModelFolderConfigError: the file is not valid TOML (it is left for the user to fix),
            the folder is no folder or is searched already, or its path cannot be written.
    """
    name = config or "the model folder config"
    if layout not in LAYOUTS or kind not in KINDS:
        raise ModelFolderConfigError(f"{name}: layout must be one of {', '.join(LAYOUTS)} and "
                                     f"kind one of {', '.join(KINDS)}")
    if not folder.is_absolute() or not folder.is_dir():
        raise ModelFolderConfigError(f"{folder}: not a folder")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelFolderConfigError(f"{name}: not valid TOML ({exc}); fix or remove it "
                                     "before adding folders") from None
    real = os.path.realpath(folder)
    for entry in extra_entries(text):
        if os.path.realpath(Path(entry["path"]).expanduser()) == real:
            raise ModelFolderConfigError(f"{folder}: already in {name}")
    if layout != "flat" and any(os.path.realpath(r) == real for r in model_roots()):
        raise ModelFolderConfigError(f"{folder}: already a model folder")
    try:
        quoted = json.dumps(str(folder), ensure_ascii=False)  # a TOML basic string
        quoted.encode("utf-8")
    except UnicodeEncodeError:
        raise ModelFolderConfigError(f"{folder!r}: the path is not valid text; rename the "
                                     "folder") from None
    block = f"\n[[extra]]\npath = {quoted}\nlayout = \"{layout}\"\n"
    if layout == "flat":
        block += f"kind = \"{kind}\"\n"
    if text and not text.endswith("\n"):
        text += "\n"
    return text + block
