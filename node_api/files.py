"""Writing user files safely: atomically, never overwriting a claimed name, tidy after crashes.

Every temporary file we write is named ``.<target name>.<pid>-<random>.tmp`` beside its
target, so a file left by a killed process can be recognised (its pid is gone) and removed
on the next save into that folder, without touching anything that is not ours or that a
live writer is still filling.

* :func:`atomic_write` replaces a file in one rename: readers see the old or the new bytes,
  never a torn file. A symlink is written *through* (its target is replaced and the link
  stays), like text editors do. A new file gets the umask's permissions (``mkstemp`` alone
  gives 0600); a replaced file keeps its mode.
* :func:`write_new` claims the first free name of a sequence with a hard link (or
  ``O_CREAT | O_EXCL`` where links are not supported), so two processes saving into one
  folder at once can never pick the same name and no file is ever overwritten.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

# Text chunks of the PNGs Save Image writes: the workflow document and A1111-style parameters.
PNG_CHUNK = "workflow"
PNG_PARAMETERS_CHUNK = "parameters"
# The largest workflow document read (a .json file or a PNG text chunk) and embedded in a
# saved PNG: real ones are well under 1 MiB. Embedding is capped at the same size, so every
# PNG this app writes can be opened again (PIL reads at most 64 MiB of text per PNG, and a
# PNG holds the workflow and its parameters text, which is no longer than the workflow).
MAX_WORKFLOW_CHARS = 16 * 1024 * 1024

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$")
# temporary files of versions before the pid was in the name: removed once clearly stale
_OLD_TEMP = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
OLD_TEMP_AGE_S = 24 * 3600
_umask_lock = threading.Lock()


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _temp_beside(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                            dir=path.parent)


def _write_temp(path: Path, data: bytes, mode: int) -> str:
    """Write ``data`` to a temporary file beside ``path`` (fsynced, with ``mode``)."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's mode is fine
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically; returns the file actually written.

    A symlink is followed, so its target gets the new bytes and the link stays a link.
    """
    path = Path(os.path.realpath(Path(path).expanduser()))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~umask()
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    clean_stale_temps(path.parent, path.name)
    return path


def write_new(folder: str | Path, names: Iterable[str], data: bytes) -> Path:
    """Write ``data`` under the first name of ``names`` that no file has; returns its path.

    The name is claimed atomically, so concurrent writers (threads or processes) never
    share a name and an existing file is never replaced; the bytes appear complete.

    Raises:
        FileExistsError: every name of ``names`` is taken.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    candidates = iter(names)
    first = next(candidates, None)
    if first is None:
        raise ValueError("write_new needs at least one file name")
    tmp = _write_temp(folder / first, data, 0o666 & ~umask())
    try:
        for name in itertools.chain([first], candidates):
            target = folder / name
            if _claim(tmp, target):
                return target
        raise FileExistsError(errno.EEXIST, "every file name is taken", str(folder))
    finally:
        Path(tmp).unlink(missing_ok=True)


def _claim(tmp: str, target: Path) -> bool:
    """Give ``tmp``'s bytes the name ``target`` unless it exists; False when it does."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:  # no hard links here (some network or FAT file systems)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    os.close(fd)
    os.replace(tmp, target)  # the claimed name is ours: only an empty file is replaced
    return True


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process, or we cannot tell: keep the file
    return True


def clean_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove our temporary files in ``folder`` whose writer is gone; returns them.

    Only files named like ours are touched: ``.<name>.<pid>-<random>.tmp`` of a process
    that no longer runs, and (from older versions) ``.<name>.<random>.tmp`` older than a day.
    ``name`` limits the sweep to the temporary files of one target.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        match = _TEMP.match(entry.name)
        old = None if match else _OLD_TEMP.match(entry.name)
        hit = match or old
        if hit is None or (name is not None and hit["name"] != name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode):
                continue
            if match and _alive(int(match["pid"])):
                continue
            if old and now - info.st_mtime < OLD_TEMP_AGE_S:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
