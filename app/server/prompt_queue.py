"""The queue of prompts: ordered by number (``front`` prompts jump ahead), one running.

Items are ComfyUI's list form, ``[number, prompt_id, prompt, extra_data, outputs]``, which
``GET /queue`` returns as they are. Thread-safe: the HTTP handlers add and delete, the worker
thread takes.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class QueueItem:
    number: float
    order: int  # ties keep arrival order
    prompt_id: str = field(compare=False)
    prompt: dict[str, Any] = field(compare=False)
    extra_data: dict[str, Any] = field(compare=False)
    outputs: list[str] = field(compare=False)

    def as_list(self) -> list[Any]:
        number: float = int(self.number) if float(self.number).is_integer() else self.number
        return [number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) and value else None


class PromptQueue:
    """Pending prompts and the one running; ``on_change`` is called after every change."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._heap: list[QueueItem] = []
        self._running: dict[str, QueueItem] = {}
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._number = 0
        self._closed = False
        self.on_change = on_change

    def next_number(self, front: bool = False) -> int:
        with self._cond:
            number = self._number
            self._number += 1
        return -number if front else number

    def put(self, number: float, prompt_id: str, prompt: dict[str, Any],
            extra_data: dict[str, Any], outputs: list[str]) -> QueueItem:
        item = QueueItem(number, next(self._order), prompt_id, prompt, extra_data, outputs)
        with self._cond:
            heapq.heappush(self._heap, item)
            self._cond.notify()
        self.on_change()
        return item

    def get(self, timeout: float | None = None) -> QueueItem | None:
        """The next prompt, now counted as running; None on timeout or after ``close``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._heap or self._closed, timeout):
                return None
            if self._closed:
                return None
            item = heapq.heappop(self._heap)
            self._running[item.prompt_id] = item
        self.on_change()
        return item

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def done(self, item: QueueItem) -> None:
        with self._cond:
            self._running.pop(item.prompt_id, None)
        self.on_change()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def current(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """``(running, pending)`` in ComfyUI's list form, pending in run order."""
        with self._cond:
            running = [i.as_list() for i in self._running.values()]
            pending = [i.as_list() for i in sorted(self._heap)]
        return running, pending

    def remaining(self) -> int:
        with self._cond:
            return len(self._heap) + len(self._running)

    def delete(self, prompt_ids: set[str]) -> int:
        """Remove pending prompts by id; returns how many were removed."""
        with self._cond:
            kept = [i for i in self._heap if i.prompt_id not in prompt_ids]
            removed = len(self._heap) - len(kept)
            heapq.heapify(kept)
            self._heap = kept
        if removed:
            self.on_change()
        return removed

    def clear(self) -> None:
        with self._cond:
            self._heap = []
        self.on_change()
