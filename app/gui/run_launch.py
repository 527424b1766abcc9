"""Starting runs from the window: validate, queue snapshots (batch seeds), start the next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.workflow import to_document
from app.gui.run_queue import QueueEntry, seed_field, with_seed_offset
from node_api.context import RunOptions

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def queue_run(window: MainWindow, targets: list[str] | None = None) -> bool:
    """Validate the graph and queue a snapshot of it (batch count times, the seed counting
    up); it starts at once when nothing runs, else after the runs queued before it.
    Problems are shown on the nodes and in Messages, and nothing is queued then."""
    window._start_probe()  # a run waits for the warm-up, so make sure it has started
    graph = window.document.root
    window.size_advice.check(None)
    problems = window.runner.check(graph, targets)
    if problems:
        window.presenter.show_problems(problems)
        window.docks["messages"].raise_()
        return False
    name = window.document.path.stem if window.document.path else "Untitled"
    if targets:
        name += " (up to " + ", ".join(graph.nodes[t].title for t in targets
                                      if t in graph.nodes) + ")"
    count = window.queue_panel.batch.value()
    for offset in range(count):
        snapshot = with_seed_offset(graph, window.registry, offset)
        seed = seed_field(snapshot, window.registry)
        label = name + (f" · seed {seed[2]}" if seed is not None and count > 1 else "")
        window.queue.add(snapshot, targets, label)
    window.queue.pump()
    return True


def start_entry(window: MainWindow, entry: QueueEntry) -> bool:
    """Start the queued ``entry`` (the queue calls this when nothing runs)."""
    options = RunOptions(device=window.device, output_dir=window.output_dir,
                         workflow=to_document(entry.graph), **window.run_settings.options())
    problems = window.runner.start(entry.graph, options, targets=entry.targets)
    if problems:
        window.presenter.show_problems(problems)
        return False
    window.presenter.begin(entry.graph)
    return True
