"""The run queue: snapshots of the graph waiting to run, one after another.

Ctrl+Enter while a run is going adds a snapshot of the graph as it is now; a batch count of N
adds N snapshots whose seeds count up from the seed widget's value. Entries can be removed,
re-ordered or cancelled while they wait; the finished ones stay listed for the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.events import Event, RunFinished

PENDING, RUNNING = "pending", "running"
SEED_MAX = 2**64 - 1


@dataclass
class QueueEntry:
    number: int
    graph: Graph
    targets: list[str] | None
    label: str
    status: str = PENDING  # pending, running, done, failed, cancelled
    seconds: float | None = None
    owner: object = None  # the tab it was queued from: its canvas shows the run

    def text(self) -> str:
        tail = f" · {self.seconds:.2f} s" if self.seconds is not None else ""
        return f"#{self.number} {self.label} — {self.status}{tail}"


def seed_field(graph: Graph, registry: Registry) -> tuple[str, str, int] | None:
    """(node id, field name, value) of the first node with a seed widget, if any."""
    for node in sorted(graph.nodes.values(), key=lambda n: (len(n.id), n.id)):
        spec = registry.get(node.type)
        field = next((v for v in spec.values if getattr(v, "widget", "") == "seed"),
                     None) if spec else None
        if field is not None:
            value = node.values.get(field.name, field.default)
            return node.id, field.name, int(value) if isinstance(value, int) else 0
    return None


def with_seed_offset(graph: Graph, registry: Registry, offset: int) -> Graph:
    """A copy of ``graph`` whose seed widget is ``offset`` higher (wrapping)."""
    copy = graph.copy()
    found = seed_field(copy, registry)
    if found is not None and offset:
        node_id, name, value = found
        copy.nodes[node_id].values[name] = (value + offset) % (SEED_MAX + 1)
    return copy


class RunQueue(QObject):
    """Entries in run order; ``start(entry)`` (the window's) starts one and returns
    whether it started. ``changed()`` fires on every change of the list."""

    changed = Signal()

    def __init__(self, start: Callable[[QueueEntry], bool], is_running: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._start, self._is_running = start, is_running
        self.entries: list[QueueEntry] = []
        self._numbers = 0

    def add(self, graph: Graph, targets: list[str] | None, label: str,
            owner: object = None) -> QueueEntry:
        self._numbers += 1
        entry = QueueEntry(self._numbers, graph, targets, label, owner=owner)
        self.entries.append(entry)
        self.changed.emit()
        return entry

    def pending(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.status == PENDING]

    def current(self) -> QueueEntry | None:
        return next((e for e in self.entries if e.status == RUNNING), None)

    def entry(self, number: int) -> QueueEntry | None:
        return next((e for e in self.entries if e.number == number), None)

    def remove(self, number: int) -> None:
        """Drop a waiting or finished entry (a running one is cancelled instead)."""
        entry = self.entry(number)
        if entry is not None and entry.status != RUNNING:
            self.entries.remove(entry)
            self.changed.emit()

    def move(self, number: int, delta: int) -> None:
        """Move a waiting entry ``delta`` places among the waiting ones."""
        waiting = self.pending()
        entry = self.entry(number)
        if entry not in waiting:
            return
        index = waiting.index(entry)
        other = max(0, min(len(waiting) - 1, index + delta))
        if other == index:
            return
        a, b = self.entries.index(entry), self.entries.index(waiting[other])
        self.entries[a], self.entries[b] = self.entries[b], self.entries[a]
        self.changed.emit()

    def drop_owner(self, owner: object) -> None:
        """A tab was closed: its waiting entries go (its running one is cancelled apart)."""
        kept = [e for e in self.entries if not (e.owner is owner and e.status == PENDING)]
        if len(kept) != len(self.entries):
            self.entries = kept
            self.changed.emit()

    def clear_pending(self) -> None:
        self.entries = [e for e in self.entries if e.status != PENDING]
        self.changed.emit()

    def pump(self) -> None:
        """Start the first waiting entry when nothing runs."""
        while not self._is_running() and (waiting := self.pending()):
            entry = waiting[0]
            entry.status = RUNNING
            if self._start(entry):
                self.changed.emit()
                return
            entry.status = "failed"  # refused (e.g. it no longer validates): the next one
            self.changed.emit()

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            entry = self.current()
            if entry is not None:
                entry.status = "done" if event.status == "ok" else event.status
                entry.seconds = event.seconds if event.status == "ok" else None
                self.changed.emit()
            QTimer.singleShot(0, self.pump)  # after every view has seen this run end
