"""One batch at a time per output folder: an OS lock on ``<folder>/.batch.lock``.

Two batches writing into one folder at once would clear each other's "leftovers" and
interleave their manifests, so the second one is refused with one line naming the pid of
the first. The lock is the operating system's (``flock`` / ``msvcrt.locking``), so a batch
that is killed releases it with its process; the file itself stays (deleting a lock file
races with the next locker) and only holds the pid of the last holder, for the message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.batch.jobs import BatchError

LOCK = ".batch.lock"


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold the batch lock of ``folder`` (created if needed) for the ``with`` block.

    Raises:
        BatchError: another batch holds the folder, or the lock file cannot be used.
    """
    folder = Path(folder)
    path = folder / LOCK
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise BatchError(f"cannot use {path} to lock the output folder: "
                         f"{exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BatchError(f"{path} is not a regular file; remove it or use another --out")
        if not _try_lock(fd):
            raise BatchError(
                f"{folder} is in use by another batch (pid {_holder(fd)}); wait for it to "
                f"finish or use another --out folder")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)
