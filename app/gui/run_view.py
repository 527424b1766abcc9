"""Shows a run: node states on the canvas, progress, live preview, messages and results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar

from app.engine.graph import Graph
from app.engine.validation import Problem
from app.gui.canvas import Canvas
from app.gui.gallery import GalleryPanel
from app.gui.panels import MessagesPanel, PreviewPanel, rgb_to_pixmap
from app.gui.progress import RunProgress
from app.gui.stale import changed_since
from node_api.events import (
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    NodeStatus,
    OutputWritten,
    RunCancelled,
    RunFinished,
    RunMessage,
    RunStarted,
    StepProgress,
)


@dataclass(frozen=True)
class RunWidgets:
    """The window's widgets every tab's runs show in (one set, shared by the tabs)."""

    messages: MessagesPanel
    preview: PreviewPanel
    gallery: GalleryPanel
    progress: QProgressBar
    status: QLabel


class RunPresenter(QObject):
    """Turns engine events (already on the GUI thread) into what the user sees: the run
    states on one tab's canvas, and the shared progress, preview, gallery and messages."""

    def __init__(self, canvas: Canvas, widgets: RunWidgets,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas, self.messages, self.preview = canvas, widgets.messages, widgets.preview
        self.gallery, self.progress = widgets.gallery, widgets.progress
        self.status = widgets.status
        self.order: list[str] = []
        self.timings: dict[str, float] = {}  # seconds of each node that ran, over runs
        self.timed_steps: dict[str, int] = {}  # the steps it had then
        self.work = RunProgress({})
        self.ran: Graph | None = None  # the graph of the last run, as it was started
        self.results: dict[str, tuple[str, str]] = {}  # node id -> its shown result state
        self.stale: set[str] = set()
        canvas.document.changed.connect(self._on_document_changed)
        self.images = 0
        self.run_id: int | None = None  # the run being shown
        self.stale_run: int | None = None  # a run of a workflow no longer open
        canvas.document.replaced.connect(self.reset)

    def reset(self) -> None:
        """Another workflow was opened: forget the last run (its ids mean other nodes now)."""
        self.stale_run = self.run_id
        self.order, self.timings, self.work = [], {}, RunProgress({})
        self.timed_steps = {}
        self.ran, self.results, self.stale = None, {}, set()
        self.progress.setValue(0)
        self.preview.clear()
        self.status.setText("ready")

    def show_problems(self, problems: list[Problem]) -> None:
        """Validation failed: mark the offending nodes and list every problem."""
        self.canvas.clear_states()
        said: dict[str, list[str]] = {}
        for problem in problems:
            self.messages.add("error", str(problem), problem.node_id)
            if problem.node_id:
                said.setdefault(problem.node_id, []).append(str(problem))
                self.canvas.set_state(problem.node_id, "invalid", problem.field or "problem",
                                      error="\n".join(said[problem.node_id]))
        self.status.setText(f"cannot run: {len(problems)} problem(s), see Messages")

    def on_event(self, event: Any) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
        elif event.run_id == self.stale_run and event.run_id != 0:
            if isinstance(event, RunFinished):  # its node ids mean other nodes now
                self.status.setText(f"the previous workflow's run: {event.status}")
            return
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _label(self, node_id: str) -> str:
        node = self.canvas.document.root.nodes.get(node_id)
        return node.title if node else f"#{node_id}"

    def _set_progress(self) -> None:
        self.progress.setValue(int(1000 * self.work.fraction))

    def _on_RunStarted(self, event: RunStarted) -> None:
        self.canvas.clear_states()
        self.order = list(event.node_ids)
        graph, registry = self.canvas.document.root, self.canvas.document.registry
        nodes = []
        for node_id in self.order:
            node = graph.nodes.get(node_id)
            spec = registry.get(node.type) if node else None
            nodes.append((node_id, spec.category if spec else "", node.values if node else {}))
        self.work = RunProgress.for_run(nodes, self.timings, self.timed_steps)
        for node_id in self.order:
            self.canvas.set_state(node_id, "waiting", "waiting")
        self.progress.setRange(0, 1000)
        self._set_progress()
        self.status.setText("running…")

    def _on_NodeStarted(self, event: NodeStarted) -> None:
        self.canvas.set_state(event.node_id, "running", "running")
        self.status.setText(self._doing(event.node_id, event.title))

    def _doing(self, node_id: str, title: str) -> str:
        """What a node is busy with before it reports steps: reading a model (seconds the
        first time), or getting to its first step (moving the model). Compiling is said only
        when the node announces it (a NodeStatus: this size is new to the compiled model)."""
        node = self.canvas.document.root.nodes.get(node_id)
        spec = self.canvas.document.registry.get(node.type) if node else None
        if spec is not None and spec.category == "loaders":
            return f"{title}: loading the model…"
        if node is not None and "steps" in node.values:
            return f"{title}: preparing the first step…"
        return f"running {title}"

    def _on_NodeStatus(self, event: NodeStatus) -> None:
        self.status.setText(f"{self._label(event.node_id)}: {event.text}")

    def _on_RunMessage(self, event: RunMessage) -> None:
        self.messages.add(event.level, event.text, event.node_id)

    def _on_StepProgress(self, event: StepProgress) -> None:
        fraction = event.step / max(1, event.total)
        self.canvas.set_state(event.node_id, "running", f"step {event.step}/{event.total}",
                              fraction)
        self.work.step(event.node_id, fraction)
        self._set_progress()
        self.status.setText(f"{self._label(event.node_id)}: step {event.step}/{event.total}")
        if event.preview is not None:
            pixmap = rgb_to_pixmap(event.preview)  # converted once, shown in two places
            self.canvas.show_preview(event.node_id, pixmap)
            self.preview.show_frame(
                pixmap, f"{self._label(event.node_id)}: step {event.step}/{event.total}")

    def begin(self, graph: Graph) -> None:
        """A run of ``graph`` was started: results are compared with it from now on."""
        self.ran, self.results, self.stale = graph.copy(), {}, set()

    def _result(self, node_id: str, state: str, text: str) -> None:
        self.results[node_id] = (state, text)
        if node_id in self.stale:
            self.canvas.set_state(node_id, "stale", f"{text} · changed since run")
        else:
            self.canvas.set_state(node_id, state, text)

    def _on_document_changed(self, _kind: str, _node_id: object) -> None:
        """Flag results the edit made stale (and unflag those an undo made current again)."""
        if self.ran is None:
            return
        stale = changed_since(self.ran, self.canvas.document.root)
        for node_id in stale ^ self.stale:
            if node_id in self.results:
                state, text = self.results[node_id]
                if node_id in stale:
                    state, text = "stale", f"{text} · changed since run"
                self.canvas.set_state(node_id, state, text)
        self.stale = stale

    def _on_NodeCached(self, event: NodeCached) -> None:
        self.work.skip(event.node_id)
        self._result(event.node_id, "cached", "cached")
        self._set_progress()

    def _on_NodeFinished(self, event: NodeFinished) -> None:
        self.work.finish(event.node_id)
        self.timings[event.node_id] = event.seconds
        ran = self.ran.nodes.get(event.node_id) if self.ran is not None else None
        steps = ran.values.get("steps") if ran is not None else None
        if isinstance(steps, int):
            self.timed_steps[event.node_id] = steps
        self._result(event.node_id, "done", f"{event.seconds:.2f} s")
        self._set_progress()

    def _on_NodeFailed(self, event: NodeFailed) -> None:
        if event.node_id:
            self.canvas.set_state(event.node_id, "failed", "failed", error=event.message)
        self.messages.add("error", event.message, event.node_id or None)

    def _on_OutputWritten(self, event: OutputWritten) -> None:
        self.images += 1
        pixmap = self.gallery.add_image(event.image, event.path, "" if event.path else
                                        self._label(event.node_id))
        if pixmap is not None:  # a thumbnail on the Save / Preview node itself
            self.canvas.show_preview(event.node_id, pixmap)

    def _on_RunCancelled(self, event: RunCancelled) -> None:
        for node_id in self.order:
            if self.canvas.state_of(node_id)[0] in ("running", "waiting"):
                self.canvas.set_state(node_id, "cancelled", "cancelled")
        self.messages.add("warning", "run cancelled")

    def _on_RunFinished(self, event: RunFinished) -> None:
        for node_id in self.order:  # after a failure, what never ran goes back to normal
            if self.canvas.state_of(node_id)[0] == "waiting":
                self.canvas.set_state(node_id, "idle")
        if event.status == "ok":
            self.progress.setValue(1000)
            ran = ", ".join(f"{self._label(n)} {s:.2f} s" for n, s in event.timings.items()
                            if n in event.executed)
            self.messages.add("info", f"done in {event.seconds:.2f} s"
                              + (f" ({ran})" if ran else " (all cached)"))
            self.status.setText(f"done in {event.seconds:.2f} s")
        elif event.status == "cancelled":
            self.progress.setValue(0)  # a cancelled run has no progress to show
            self.status.setText("cancelled")
        else:
            if event.run_id == 0 and event.error:  # refused before the executor started
                self.messages.add("error", event.error)
            self.status.setText("failed, see Messages")
