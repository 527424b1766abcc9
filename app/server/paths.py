"""File names from requests, confined to the server's input, output and temp folders.

A client names a file as ComfyUI does: ``filename``, ``subfolder`` and ``type``. Neither part
may be absolute, hold ``..`` or a NUL, and the joined path must stay inside the folder of its
type after every symlink is followed (``Path.resolve`` + ``is_relative_to``), so a link inside
the output folder pointing elsewhere is refused as well.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from app.server.config import ServerConfig

_ANNOTATION = re.compile(r"^(?P<name>.*?) \[(?P<type>input|output|temp)\]$")


class PathRefused(ValueError):
    """A requested file name leaves its folder or is malformed."""


def split_annotation(name: str, default: str) -> tuple[str, str]:
    """ComfyUI's ``"name.png [output]"``: the name and its folder type."""
    match = _ANNOTATION.match(name)
    return (match["name"], match["type"]) if match else (name, default)


def _clean_parts(text: str, what: str) -> tuple[str, ...]:
    if "\x00" in text:
        raise PathRefused(f"{what} holds a NUL character")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or text.startswith(("/", "\\")):
        raise PathRefused(f"{what} {text!r} is absolute")
    parts = tuple(p for p in re.split(r"[\\/]+", text) if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise PathRefused(f"{what} {text!r} leaves its folder")
    return parts


def clean_filename(name: str) -> str:
    """A bare file name (no folders) or PathRefused."""
    parts = _clean_parts(name, "file name")
    if len(parts) != 1:
        raise PathRefused(f"file name {name!r} must not name folders (use subfolder)")
    return parts[0]


def confined(config: ServerConfig, kind: str, subfolder: str, filename: str) -> Path:
    """The path of ``filename`` in ``subfolder`` of the ``kind`` folder, symlinks resolved.

    Raises:
        PathRefused: an unknown type, a bad name, or a path that leaves the folder.
    """
    folder = config.folder(kind)
    if folder is None:
        raise PathRefused(f"unknown type {kind!r} (input, output or temp)")
    root = folder.resolve()
    name = clean_filename(filename)
    path = root.joinpath(*_clean_parts(subfolder, "subfolder"), name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise PathRefused(f"{filename!r} resolves outside the {kind} folder")
    return path
