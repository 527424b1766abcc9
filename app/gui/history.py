"""Snapshot undo/redo over the engine's Graph (no Qt): each edit stores the graph before it.

Graphs are small (tens of nodes), so a deep copy per edit is cheap and makes undo exact for
every kind of edit, including the ones that touch several nodes and links at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.graph import Graph


@dataclass
class _Step:
    label: str
    before: Graph
    merge_key: object | None = None


class History:
    """Undo and redo stacks of graph snapshots.

    Args:
        limit: how many undo steps are kept (the oldest go first).
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []

    def record(self, label: str, before: Graph, merge_key: object | None = None) -> None:
        """Remember ``before`` as the state to go back to when this edit is undone.

        Consecutive edits with the same non-None ``merge_key`` (typing into one field)
        become one step.
        """
        self._redo.clear()
        if merge_key is not None and self._undo and self._undo[-1].merge_key == merge_key:
            return
        self._undo.append(_Step(label, before.copy(), merge_key))
        del self._undo[: max(0, len(self._undo) - self.limit)]

    def seal(self) -> None:
        """End merging: the next edit starts a new step even with the same merge key."""
        if self._undo:
            self._undo[-1].merge_key = None

    def undo(self, current: Graph) -> Graph | None:
        """The graph before the last edit (``current`` becomes redoable), or None."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(_Step(step.label, current.copy()))
        return step.before.copy()

    def redo(self, current: Graph) -> Graph | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(_Step(step.label, current.copy()))
        return step.before.copy()

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None
