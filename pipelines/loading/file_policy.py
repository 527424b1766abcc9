"""Which files a workflow may make us read, and what kind of file they must be.

A workflow is untrusted data (it arrives inside PNGs from the internet), so every file it
names must resolve, after following symlinks, inside a folder the user configured:

* models (checkpoints, VAEs, LoRAs, upscalers): any model folder of any kind (the user's,
  the ``[[extra]]`` ComfyUI/AUTOMATIC1111 folders of ``models.toml``, the shipped ones);
* embeddings (``embedding:name`` in a prompt): the embeddings folders only, by name;
* images (Load Image): the model folders, the input folder (``$STUDIO_INPUT``, default
  ``<user data>/input``; relative names are looked up there first) and the run's output
  folder (so an image saved by one run can feed the next);
* plus, for models and images, every folder listed in ``$STUDIO_ALLOW_PATHS``
  (``os.pathsep``-separated) for files a user keeps elsewhere.

Only regular files (or folders, for diffusers models) are read: a FIFO, device or socket
named like a model would block the loader or read forever, so it is refused before opening.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from pipelines.errors import PipelineError

ALLOW_ENV = "STUDIO_ALLOW_PATHS"
INPUT_ENV = "STUDIO_INPUT"


class FileRefused(PipelineError, FileNotFoundError):
    """A file named by a workflow is outside the allowed folders, missing, or not a regular
    file. A ``FileNotFoundError`` too, so callers treating "cannot use that file" alike
    (cache fingerprints, pickers) keep working."""


def input_dir() -> Path:
    """Where Load Image looks up relative names (``$STUDIO_INPUT`` or the user data dir)."""
    if override := os.environ.get(INPUT_ENV):
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("diffusion-studio", appauthor=False)) / "input"


def allowed_env() -> list[Path]:
    """The folders of ``$STUDIO_ALLOW_PATHS``."""
    text = os.environ.get(ALLOW_ENV, "")
    return [Path(p).expanduser() for p in text.split(os.pathsep) if p.strip()]


def is_inside(path: str | Path, folders: Iterable[str | Path]) -> bool:
    """Whether ``path`` (symlinks followed) lies in one of ``folders`` (symlinks followed)."""
    real = os.path.realpath(path)
    for folder in folders:
        root = os.path.realpath(folder)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def confine(path: Path, folders: list[Path], what: str, name: str) -> Path:
    """``path`` if it lies inside ``folders``.

    Raises:
        FileRefused: it does not (after following symlinks).
    """
    if is_inside(path, folders):
        return path
    listed = ", ".join(str(f) for f in folders) or "none configured"
    raise FileRefused(
        f"{what} {name!r} resolves to {os.path.realpath(path)}, outside the folders a "
        f"workflow may read ({listed}). Move it into one of them, or add its folder to "
        f"${ALLOW_ENV}."
    )


def describe_mode(mode: int) -> str:
    """'a folder', 'a FIFO (named pipe)', ... for a ``st_mode``."""
    for test, text in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return text
    return "not a regular file"


def size_text(size: int) -> str:
    """'300 MB' for sizes from a MiB up, '1,000 bytes' below."""
    return f"{size / (1 << 20):,.0f} MB" if size >= 1 << 20 else f"{size:,} bytes"


def check_regular(path: Path, what: str, folders_ok: bool = False,
                  max_bytes: int | None = None) -> os.stat_result:
    """Stat ``path`` (without opening it) and refuse anything but a regular file (or a
    folder when ``folders_ok``) and files over ``max_bytes``.

    Raises:
        FileRefused: missing, not a regular file, or too big.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileRefused(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise FileRefused(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISREG(info.st_mode) or (folders_ok and stat.S_ISDIR(info.st_mode)):
        if max_bytes is not None and stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise FileRefused(f"{what} {path} is {size_text(info.st_size)}, over the limit of "
                              f"{size_text(max_bytes)}")
        return info
    raise FileRefused(f"{what} {path} is {describe_mode(info.st_mode)}, not a file to read")
