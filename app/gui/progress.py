"""How far a run is, weighted by the work each node does (no Qt).

Counting nodes made the bar lie: six cheap nodes finished in 0.7 s showed ~55% before the
sampler, which is nearly all of the time, had done a step. Each node gets a weight instead:
its seconds in the last run of this workflow when known, else an estimate from its kind (per
denoising step for nodes with steps). A node served from the cache leaves the total, since
it costs nothing.
"""

from __future__ import annotations

from typing import Any

STEP_WEIGHT = 1.0  # one denoising step
DEFAULT_WEIGHT = 0.3  # a cheap node (empty latent, noise, numbers)
CATEGORY_WEIGHTS = {  # relative to one step, for nodes without steps
    "loaders": 4.0,  # reading weights from disk
    "vae": 3.0,  # encoding/decoding full-size images
    "upscale": 6.0,
    "conditioning": 1.0,  # a text encoder pass
    "image": 1.0,  # reading/writing image files
}


def estimated_weight(category: str, values: dict[str, Any]) -> float:
    """The work of one node from its kind: steps for samplers, else its category's weight."""
    steps = values.get("steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        return STEP_WEIGHT * steps
    return CATEGORY_WEIGHTS.get(category, DEFAULT_WEIGHT)


class RunProgress:
    """The fraction of a run's work done.

    Args:
        weights: each node's weight, in run order.
    """

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = {k: max(1e-6, float(w)) for k, w in weights.items()}
        self.finished: set[str] = set()
        self.partial: dict[str, float] = {}

    @classmethod
    def for_run(cls, nodes: list[tuple[str, str, dict[str, Any]]],
                last_seconds: dict[str, float],
                last_steps: dict[str, int] | None = None) -> RunProgress:
        """Weights for ``nodes`` (id, category, values): the last run's seconds when every
        node has one (same machine, same models: the best estimate; scaled when its steps
        changed since, per ``last_steps``), else estimates from their kind."""
        if not nodes or not all(node_id in last_seconds for node_id, _c, _v in nodes):
            return cls({node_id: estimated_weight(c, v) for node_id, c, v in nodes})
        weights = {}
        for node_id, _category, values in nodes:
            seconds = last_seconds[node_id] + 0.01
            steps, before = values.get("steps"), (last_steps or {}).get(node_id)
            if isinstance(steps, int) and isinstance(before, int) and before > 0:
                seconds *= steps / before
            weights[node_id] = seconds
        return cls(weights)

    def skip(self, node_id: str) -> None:
        """Served from the cache: no work, so it leaves the total."""
        self.weights.pop(node_id, None)
        self.partial.pop(node_id, None)

    def step(self, node_id: str, fraction: float) -> None:
        self.partial[node_id] = max(0.0, min(1.0, fraction))

    def finish(self, node_id: str) -> None:
        self.finished.add(node_id)
        self.partial.pop(node_id, None)

    @property
    def fraction(self) -> float:
        total = sum(self.weights.values())
        if total <= 0:
            return 1.0 if self.finished else 0.0
        done = sum(w for k, w in self.weights.items() if k in self.finished)
        done += sum(self.weights[k] * f for k, f in self.partial.items() if k in self.weights)
        return min(1.0, done / total)
