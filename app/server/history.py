"""Finished prompts, kept in ``<data>/history.json`` so they survive a restart.

Each entry has ComfyUI's shape: ``{"prompt": [number, id, prompt, extra_data, outputs],
"outputs": {node: {"images": [...]}}, "status": {"status_str", "completed", "messages"},
"meta": {node: {...}}}``. The file is rewritten atomically after every change (a crash
leaves the old or the new file, never half of one); a damaged file is set aside, not lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from node_api.files import atomic_write
from pipelines.untrusted_json import JsonInputError, loads

log = logging.getLogger(__name__)
MAX_FILE_CHARS = 256 << 20


class History:
    def __init__(self, path: Path, max_items: int = 1000) -> None:
        self.path = path
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            raw = loads(self.path.read_bytes(), max_chars=MAX_FILE_CHARS)
            if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
                raise JsonInputError("not an object of history entries")
        except (OSError, JsonInputError) as exc:
            aside = self.path.with_name(f"{self.path.name}.broken-{int(time.time())}")
            log.warning("the history file %s is unreadable (%s); it is kept as %s and the "
                        "history starts empty", self.path, exc, aside)
            try:
                self.path.replace(aside)
            except OSError:
                pass
            return {}
        return raw

    def _save(self) -> None:
        data = json.dumps(self._items, ensure_ascii=False).encode("utf-8")
        try:
            atomic_write(self.path, data)
        except OSError as exc:  # a full disk must not stop the server; the run is still listed
            log.error("could not write the history file %s: %s", self.path, exc)

    def add(self, prompt_id: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._items.pop(prompt_id, None)
            self._items[prompt_id] = entry
            while len(self._items) > self.max_items:
                self._items.pop(next(iter(self._items)))
            self._save()

    def get(self, prompt_id: str | None = None, max_items: int | None = None,
            offset: int = 0) -> dict[str, Any]:
        """One entry (``{id: entry}`` or ``{}``), or the latest ``max_items`` in order."""
        with self._lock:
            if prompt_id is not None:
                entry = self._items.get(prompt_id)
                return {prompt_id: entry} if entry is not None else {}
            keys = list(self._items)
            if max_items is not None:
                end = len(keys) - max(offset, 0)
                keys = keys[max(end - max_items, 0):max(end, 0)]
            return {k: self._items[k] for k in keys}

    def delete(self, prompt_ids: set[str]) -> None:
        with self._lock:
            for prompt_id in prompt_ids:
                self._items.pop(prompt_id, None)
            self._save()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._save()
