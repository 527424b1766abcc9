"""Events emitted by a run; the CLI's progress bars and the GUI both consume them.

Listeners are plain callables taking one event. They are called on the thread that
runs the graph (the GUI re-emits them as Qt signals to reach its own thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    run_id: int


@dataclass(frozen=True)
class RunStarted(Event):
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class NodeStarted(Event):
    node_id: str
    title: str
    type: str


@dataclass(frozen=True)
class NodeCached(Event):
    node_id: str
    title: str


@dataclass(frozen=True)
class NodeFinished(Event):
    node_id: str
    title: str
    seconds: float


@dataclass(frozen=True)
class StepProgress(Event):
    """Step ``step`` (1-based) of ``total`` inside a node; ``preview`` is HxWx3 uint8."""

    node_id: str
    step: int
    total: int
    preview: Any = None


@dataclass(frozen=True)
class NodeFailed(Event):
    node_id: str
    title: str
    message: str
    error: BaseException | None = None
    traceback: str = ""


@dataclass(frozen=True)
class OutputWritten(Event):
    """An output node produced a user-visible result (e.g. a PNG file or preview image)."""

    node_id: str
    kind: str  # "file" | "image"
    path: str | None = None
    image: Any = None


@dataclass(frozen=True)
class RunMessage(Event):
    """Something the user should read, said by a node (``level``: "info" or "warning"): the
    GUI lists it in Messages, the CLI prints it on stderr. The executor passes each distinct
    message on once per run."""

    node_id: str | None
    level: str
    text: str


@dataclass(frozen=True)
class NodeStatus(Event):
    """What a busy node is doing before its next step (e.g. compiling), for a status line."""

    node_id: str
    text: str


@dataclass(frozen=True)
class RunCancelled(Event):
    node_id: str | None


@dataclass(frozen=True)
class RunFinished(Event):
    """The end of every run, whatever its status: ``ok``, ``failed`` or ``cancelled``."""

    status: str
    outputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    executed: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    error: str | None = None
    seconds: float = 0.0


Listener = Callable[[Event], None]
