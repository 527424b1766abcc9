"""``manifest.jsonl``: the record of a batch's finished jobs, appended one atomic line each."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

MANIFEST = "manifest.jsonl"


class Manifest:
    """``manifest.jsonl``: one JSON record per finished job; the last record of an index wins."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / MANIFEST

    def load(self) -> dict[int, dict[str, Any]]:
        """Records by job index; a line torn by a crash is dropped (and cut off the file)."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            from app.engine.workflow import atomic_write

            data = data[: data.rfind(b"\n") + 1]
            atomic_write(self.path, data)
        records: dict[int, dict[str, Any]] = {}
        for line in data.decode("utf-8", errors="replace").splitlines():
            try:
                record = checked_loads(line)
            except JsonInputError:  # torn, or not ours (too deep, repeated keys): skipped
                continue
            if isinstance(record, dict) and isinstance(record.get("index"), int):
                records[record["index"]] = record
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Append one line with a single write, flushed to disk before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
