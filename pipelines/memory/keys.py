"""Cache keys of the model cache: what makes one load different from another.

A file is identified by its resolved path, modification time and size; a model folder by a
digest of every file's relative path, modification time and size, so replacing one component
file (even with an older one of the same size, as ``cp -p`` or ``mv`` leave it) is a change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from pathlib import Path


def file_fingerprint(path: str | Path) -> tuple[int, int] | tuple[str, int]:
    """``(mtime_ns, size)`` of a file; of a folder, a digest of every file's relative path,
    mtime and size, with the total size, so replacing ``unet/*.safetensors`` inside a model
    folder counts as a change even when the new file is older and just as large."""
    path = Path(path)
    if not path.is_dir():
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size
    found = []
    for item in path.rglob("*"):
        if item.is_file():
            stat = item.stat()
            found.append((item.relative_to(path).as_posix(), stat.st_mtime_ns, stat.st_size))
    digest = hashlib.sha256()
    for name, mtime, size in sorted(found):
        digest.update(f"{name}\0{mtime}\0{size}\n".encode())
    return digest.hexdigest()[:32], sum(size for *_, size in found)


def model_key(kind: str, path: str | Path, device: str, *extra: Hashable) -> tuple:
    """Cache key of one load: kind, resolved path, fingerprint, storage device, the rest."""
    resolved = Path(path).resolve()
    return (kind, str(resolved), *file_fingerprint(resolved), str(device), *extra)
