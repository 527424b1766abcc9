"""Runs the graph on a worker thread; engine events come back to the GUI thread as signals."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from app.engine.executor import Executor
from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.validation import Problem, ValidationError, validate
from node_api.context import CancelToken, RunOptions
from node_api.events import Event, RunFinished


class _Bridge(QObject):
    """Lives on the GUI thread; emitting from the worker queues the call to the GUI thread."""

    event = Signal(object)


class RunController(QObject):
    """Starts and cancels runs; one at a time, with one executor (and cache) per window.

    Signals:
        event(Event): every engine event, delivered on the GUI thread.
        running_changed(bool)
    """

    event = Signal(object)
    running_changed = Signal(bool)

    def __init__(self, registry: Registry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.executor = Executor(registry)
        self._bridge = _Bridge()
        self._bridge.event.connect(self._deliver)
        self._thread: threading.Thread | None = None
        self._cancel = CancelToken()
        self.last_result: RunFinished | None = None
        # Set once the background warm-up has imported the model stack: a run started before
        # then waits for it rather than importing the same modules from a second thread.
        self.warm: threading.Event | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, graph: Graph, options: RunOptions, force: bool = False,
              targets: list[str] | None = None) -> list[Problem]:
        """Validate, then run a copy of ``graph`` in the background (only what ``targets``
        need when given, else every output node).

        Returns:
            The validation problems; when there are any, nothing was started.
        """
        if self.running:
            return [Problem(None, None, None, "a run is already going")]
        snapshot = self._needed(graph, targets)
        problems = validate(snapshot, self.registry, targets)
        if problems:
            return problems
        self._cancel = CancelToken()
        self._thread = threading.Thread(
            target=self._work, args=(snapshot, options, self._cancel, force, targets),
            name="studio-run", daemon=True)
        self.running_changed.emit(True)
        self._thread.start()
        return []

    @staticmethod
    def _needed(graph: Graph, targets: list[str] | None) -> Graph:
        snapshot = graph.copy()
        if targets is not None:  # "run up to here": the rest of the graph need not be valid
            needed = snapshot.ancestors(targets)
            for node_id in [i for i in snapshot.nodes if i not in needed]:
                snapshot.remove(node_id)
        return snapshot

    def check(self, graph: Graph, targets: list[str] | None = None) -> list[Problem]:
        """What stops ``graph`` (or what ``targets`` need) from running; empty when it can."""
        return validate(self._needed(graph, targets), self.registry, targets)

    def cancel(self) -> None:
        self._cancel.cancel()

    def _work(self, graph: Graph, options: RunOptions, cancel: CancelToken, force: bool,
              targets: list[str] | None) -> None:
        emit = self._bridge.event.emit
        try:
            while self.warm is not None and not self.warm.wait(0.05) and not cancel.cancelled:
                pass
            if options.device == "auto":
                from app.gui.device import resolve_device

                options.device = resolve_device()
            self.executor.run(graph, options=options, listeners=[emit], cancel=cancel,
                              force=force, targets=targets)
        except ValidationError as exc:  # the graph changed between check and run
            emit(RunFinished(0, "failed", error=str(exc)))
        except Exception as exc:  # never let a worker crash take the window down
            emit(RunFinished(0, "failed", error=f"the run could not start: {exc}"))

    def _deliver(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            self.last_result = event
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._thread = None
        self.event.emit(event)
        if isinstance(event, RunFinished):
            self.running_changed.emit(False)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker ends (for shutdown); events still arrive via the loop."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
