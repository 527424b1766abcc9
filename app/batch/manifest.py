"""``manifest.jsonl``: the record of a batch's finished jobs, appended one atomic line each."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from app.batch.jobs import BatchError
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

MANIFEST = "manifest.jsonl"
MAX_MANIFEST_BYTES = 1 << 30  # a million jobs' records are far below this


class Manifest:
    """``manifest.jsonl``: one JSON record per finished job; the last record of an index wins."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / MANIFEST

    def load(self) -> dict[int, dict[str, Any]]:
        """Records by job index; a line torn by a crash is dropped (and cut off the file).

        Raises:
            BatchError: the manifest is not a regular file, too big, or unreadable.
        """
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise BatchError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(info.st_mode):
            raise BatchError(f"{self.path} is not a regular file (a folder or a device?); "
                             f"move it away or use another --out folder")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise BatchError(f"{self.path} is over {MAX_MANIFEST_BYTES >> 20} MB; "
                             f"this is not a batch manifest, use another --out folder")
        try:
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                from node_api.files import atomic_write

                data = data[: data.rfind(b"\n") + 1]
                atomic_write(self.path, data)
        except OSError as exc:
            raise BatchError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        records: dict[int, dict[str, Any]] = {}
        for line in data.decode("utf-8", errors="replace").splitlines():
            try:
                record = checked_loads(line, allow_surrogates=True)
            except JsonInputError:  # torn, or not ours (too deep, repeated keys): skipped
                continue
            if isinstance(record, dict) and isinstance(record.get("index"), int):
                records[record["index"]] = record
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Append one line with a single write, flushed to disk before returning.

        Text UTF-8 cannot hold (a lone surrogate from a job file) is written as a JSON
        ``\\uXXXX`` escape, so the record still reads back exactly.

        Raises:
            BatchError: the manifest cannot be written (disk full, not a file...).
        """
        text = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        try:
            line = text.encode("utf-8")
        except UnicodeEncodeError:
            line = (json.dumps(record, ensure_ascii=True, default=str) + "\n").encode("ascii")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise BatchError(f"{self.path} is not a regular file")
                if os.write(fd, line) != len(line):
                    raise OSError(28, "No space left on device (short write)")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise BatchError(f"cannot write {self.path}: {exc.strerror or exc}; the job is "
                             f"redone when you resume") from None
