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
import re
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


_HEADER = re.compile(r"^\s*\[")
_EXTRA = re.compile(r"^\s*\[\[\s*extra\s*\]\]\s*(#.*)?$")
_EXTRA_SUB = re.compile(r"^\s*\[+\s*extra\s*\.")  # [extra.x] / [[extra.x]]: inside the entry
_LOOSE = re.compile(r"^\s*(#.*)?$")  # a blank or comment-only line


def without_extra_folder(text: str, folder: str, config: Path | str | None = None) -> str:
    """``text`` without the ``[[extra]]`` entry whose path is ``folder`` (as written in the
    file). Only that entry's lines go: its header, the lines up to its last key (comments
    among them included) and the blank line before it; every other line, the comments after
    the entry included, stays as it is.

    Raises:
        ModelFolderConfigError: the file is not valid TOML, has no such entry, or writes its
            entries in a way that cannot be edited line by line (an inline array): the file is
            left for the user to edit.
    """
    name = config or "the model folder config"
    before = extra_entries(text, name)
    index = next((i for i, entry in enumerate(before) if entry["path"] == folder), None)
    if index is None:
        raise ModelFolderConfigError(f"{folder}: not in {name}")
    lines = text.splitlines(keepends=True)
    headers = [n for n, line in enumerate(lines) if _EXTRA.match(line)]
    problem = ModelFolderConfigError(f"{name}: its [[extra]] entries cannot be edited here; "
                                     f"remove {folder} from the file by hand")
    if len(headers) != len(before):
        raise problem
    start = headers[index]
    end = next((n for n in range(start + 1, len(lines))
                if _HEADER.match(lines[n]) and not _EXTRA_SUB.match(lines[n])), len(lines))
    while end > start + 1 and _LOOSE.match(lines[end - 1]):
        end -= 1  # comments after the entry's last line stay (they may introduce what follows)
    if start > 0 and lines[start - 1].strip() == "":
        start -= 1  # the blank line that separated the entry goes with it
    updated = "".join(lines[:start] + lines[end:])
    try:
        after = extra_entries(updated, name)
    except ModelFolderConfigError:
        raise problem from None
    if after != before[:index] + before[index + 1:]:
        raise problem
    return updated
