"""Terminal progress for runs: an overall bar over nodes and a step bar per node (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

from node_api.events import (
    Event,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    NodeStatus,
    RunFinished,
    RunMessage,
    RunStarted,
    StepProgress,
)


class ProgressPrinter:
    """Event listener drawing tqdm bars on stderr; quiet mode prints nothing."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._overall: Any = None
        self._steps: Any = None
        self._titles: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunMessage):  # said even when quiet: the user should know
            self._say(f"{event.level}: {event.text}")
            return
        if self.quiet:
            return
        from tqdm import tqdm

        if isinstance(event, NodeStatus):
            if self._overall is not None:
                self._overall.set_postfix_str(f"{self._titles.get(event.node_id, '')}: "
                                              f"{event.text}")
        elif isinstance(event, RunStarted):
            self._overall = tqdm(total=len(event.node_ids), desc="workflow", unit="node",
                                 file=sys.stderr, position=0, leave=True)
        elif isinstance(event, NodeStarted):
            self._titles[event.node_id] = event.title
            if self._overall is not None:
                self._overall.set_postfix_str(event.title)
        elif isinstance(event, StepProgress):
            if self._steps is None:
                title = self._titles.get(event.node_id, event.node_id)
                self._steps = tqdm(total=event.total, desc=f"  {title}", unit="step",
                                   file=sys.stderr, position=1, leave=False)
            self._steps.n = event.step
            self._steps.refresh()
        elif isinstance(event, NodeFinished | NodeCached):
            self._close_steps()
            if self._overall is not None:
                self._overall.update(1)
        elif isinstance(event, NodeFailed | RunFinished):
            self._close_steps()
            if isinstance(event, RunFinished) and self._overall is not None:
                self._overall.close()
                self._overall = None

    def _say(self, line: str) -> None:
        """One line on stderr, above the bars when there are any."""
        if self._overall is not None:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def _close_steps(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None


def summary(result: RunFinished, titles: dict[str, str]) -> str:
    """Outputs written and per-node times, as printed after a run."""
    lines = []
    for path in result.files:
        lines.append(f"wrote {path}")
    lines.append(f"{'node':<28} {'seconds':>8}  status")
    for node_id, seconds in result.timings.items():
        status = "cached" if node_id in result.cached else "ran"
        name = f"{titles.get(node_id, node_id)} (#{node_id})"
        lines.append(f"{name:<28} {seconds:>8.3f}  {status}")
    lines.append(f"total {result.seconds:.3f} s, status {result.status}")
    return "\n".join(lines)
