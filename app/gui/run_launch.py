"""Starting runs from the window: validate, queue snapshots (batch seeds), start the next.

A queued entry remembers the tab it came from; that tab's canvas shows its run, whichever
tab is in front when it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from app.engine.workflow import to_document
from app.gui.run_queue import QueueEntry, seed_field, with_seed_offset
from node_api.context import RunOptions

if TYPE_CHECKING:
    from app.gui.document import Document
    from app.gui.run_view import RunPresenter
    from app.gui.window_api import StudioWindow


class RunOwner(Protocol):
    """A tab a run belongs to (app.gui.tab.WorkflowTab)."""

    document: Document
    presenter: RunPresenter


def queue_run(window: StudioWindow, owner: RunOwner, targets: list[str] | None = None) -> bool:
    """Validate ``owner``'s graph and queue a snapshot of it (batch count times, the seed
    counting up); it starts at once when nothing runs, else after the runs queued before it.
    Problems are shown on the nodes and in Messages, and nothing is queued then."""
    window.start_probe()  # a run waits for the warm-up, so make sure it has started
    document = owner.document
    graph = document.root
    window.size_advice.check(None)
    problems = window.runner.check(graph, targets)
    if problems:
        owner.presenter.show_problems(problems)
        window.docks["messages"].raise_()
        return False
    name = document.path.stem if document.path else "Untitled"
    if targets:
        name += " (up to " + ", ".join(graph.nodes[t].title for t in targets
                                      if t in graph.nodes) + ")"
    count = window.queue_panel.batch.value()
    for offset in range(count):
        snapshot = with_seed_offset(graph, window.registry, offset)
        seed = seed_field(snapshot, window.registry)
        label = name + (f" · seed {seed[2]}" if seed is not None and count > 1 else "")
        window.queue.add(snapshot, targets, label, owner=owner)
    window.queue.pump()
    return True


def start_entry(window: StudioWindow, entry: QueueEntry, owner: RunOwner | None) -> bool:
    """Start the queued ``entry`` (the queue calls this when nothing runs); ``owner`` is its
    tab when that is still open (None: the run shows in the shared panels only)."""
    options = RunOptions(device=window.device, output_dir=window.output_dir,
                         workflow=to_document(entry.graph), **window.run_settings.options())
    problems = window.runner.start(entry.graph, options, targets=entry.targets)
    if problems:
        if owner is not None:
            owner.presenter.show_problems(problems)
        return False
    if owner is not None:
        owner.presenter.begin(entry.graph)
    return True
