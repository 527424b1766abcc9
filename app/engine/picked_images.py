"""Images the user picks in a file dialog, versus path confinement.

A workflow is untrusted data, so Load Image reads only inside the image folders
(``pipelines.loading.file_policy``). An image the user picks by hand in the window's file
dialog is trusted: it is *adopted* into the input folder (as ComfyUI uploads to ``input/``),
and the node keeps the name relative to that folder. So the pick works, the workflow stays
portable (the name means the same on another machine with the same input folder), and a
workflow file still cannot make us read outside the folders: only a person at the dialog can.

- a file already inside the input folder: its relative name, nothing copied;
- a file inside another folder Load Image may read (model folders, the output folder,
  ``$STUDIO_ALLOW_PATHS``): its absolute path, nothing copied;
- anything else: copied into the input folder under its own name, or ``name-<hash>.ext``
  when a different file has that name (the same bytes under the name are reused); never
  overwriting a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from node_api.files import write_new
from nodes._images import IMAGE_MAX_BYTES
from pipelines.loading.file_policy import check_regular, input_dir, is_inside
from pipelines.loading.folders import image_roots


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def adopt_picked_image(path: str | Path, output_dir: str | Path | None = None) -> str:
    """The value for Load Image's ``path`` once the user picked ``path`` in a dialog.

    Raises:
        FileRefused: not a regular file, or over the image size cap.
        OSError: the input folder cannot be written.
    """
    picked = Path(path).expanduser().absolute()
    check_regular(picked, "image", max_bytes=IMAGE_MAX_BYTES)
    inputs = input_dir()
    if is_inside(picked, [inputs]):
        real = Path(os.path.realpath(picked))
        return real.relative_to(os.path.realpath(inputs)).as_posix()
    if is_inside(picked, image_roots(output_dir)):
        return str(picked)
    digest = _digest(picked)
    name = picked.name
    existing = inputs / name
    if existing.is_file() and _digest(existing) == digest:
        return name
    inputs.mkdir(parents=True, exist_ok=True)
    hashed = f"{picked.stem}-{digest[:12]}{picked.suffix}"
    if (inputs / hashed).is_file() and _digest(inputs / hashed) == digest:
        return hashed
    return write_new(inputs, [name, hashed], picked.read_bytes()).name
