"""Step Cache: skip the denoiser on steps where its input has barely moved, reusing its last
output (the idea of ComfyUI's EasyCache/LazyCache and of TeaCache, applied to the whole
denoiser call, so it works for any family).

The rule, per run: after two computed steps we know how strongly the output reacted to the
input, ``rate = mean|out - out_prev| / mean|in - in_prev|``. On each later step the input's
change since the last computed step, scaled by ``rate`` and divided by the output's magnitude,
estimates the relative change of the output; while that estimate stays under ``threshold`` the
step reuses the last output, and once it passes the denoiser runs again. Steps before
``start`` and from ``end`` on (fractions of the run) always run; so do the first two.

It is a run-scoped patch (``pipelines.sampling.patches``): the node returns a copy of the
model with the patch added, the cached network is never touched, and a model without it
samples bit for bit as before. The estimate is computed on the device (in float64 as Python
would, float32 on MPS); whether to skip is a Python decision, so each step where a skip is
possible (in the window, threshold above 0, after the first two computed steps) reads one
boolean on the host: a stream sync there, the only one. Other steps read nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from pipelines.sampling.patches import DenoiserCall
from pipelines.values import DiffusionModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepCache:
    """The patch: ``threshold`` (0 never skips), run window ``[start, end)`` as fractions."""

    threshold: float = 0.2
    start: float = 0.15
    end: float = 0.95
    # per-run counts for benchmarks and logs: (computed, skipped) of the last run
    last_run: list[tuple[int, int]] = field(default_factory=list, compare=False, repr=False)

    @contextlib.contextmanager
    def run(self, model: DiffusionModel, inputs: dict[str, Any], timesteps: torch.Tensor,
            cfg_batch: bool, batch: int) -> Iterator[StepCacheRun]:
        state = StepCacheRun(self, len(timesteps))
        try:
            yield state
        finally:
            self.last_run[:] = [(state.computed, state.skipped)]
            if state.skipped:
                log.info("Step Cache: skipped %d of %d denoiser calls", state.skipped,
                         state.computed + state.skipped)


class StepCacheRun:
    """One run's cache: the per-step hook and the wrapper around the denoiser call."""

    def __init__(self, settings: StepCache, total: int) -> None:
        self.settings, self.total = settings, max(1, total)
        self.index = 0
        self.computed = self.skipped = 0
        self.last_input: torch.Tensor | None = None  # the input of the last computed step
        self.last_output: torch.Tensor | None = None
        self.before_input: torch.Tensor | None = None  # ... and of the one computed before it
        self.before_output: torch.Tensor | None = None
        # mean|out - out_prev| / mean|in - in_prev| as a 0-d tensor on the device, NaN until
        # the input has moved (a NaN estimate never skips); None until two computed steps
        self.rate: torch.Tensor | None = None

    def __call__(self, index: int) -> None:
        self.index = index

    def _may_skip(self, x: torch.Tensor) -> bool:
        settings, fraction = self.settings, self.index / self.total
        if settings.threshold <= 0 or not settings.start <= fraction < settings.end:
            return False
        if self.rate is None or self.last_input is None or self.last_output is None \
                or x.shape != self.last_input.shape:
            return False
        scale = _mean_abs(self.last_output)
        change = _mean_abs(x - self.last_input)
        estimate = self.rate * change / scale
        return bool((scale != 0) & (estimate < settings.threshold))  # the one host read

    def call(self, call_next: DenoiserCall, model: DiffusionModel, x: torch.Tensor, t: Any,
             inputs: dict[str, Any]) -> torch.Tensor:
        if self._may_skip(x):
            self.skipped += 1
            return self.last_output  # type: ignore[return-value]
        output = call_next(model, x, t, inputs)
        self.computed += 1
        self.before_input, self.before_output = self.last_input, self.last_output
        # a copy: a CUDA-graph denoiser reuses its output buffer on the next call
        self.last_input, self.last_output = x, output.clone()
        if self.settings.threshold > 0 and self.before_input is not None \
                and self.before_input.shape == x.shape:
            moved = _mean_abs(x - self.before_input)
            rate = _mean_abs(output - self.before_output) / moved
            previous = self.rate if self.rate is not None else torch.full_like(rate, math.nan)
            self.rate = torch.where(moved > 0, rate, previous)
        return output


def _mean_abs(value: torch.Tensor) -> torch.Tensor:
    """``mean|value|`` as a 0-d tensor on the value's device, in float64 (the precision of the
    Python floats the estimate was once made of) where the device has it."""
    mean = value.abs().mean()
    return mean.to(torch.float32 if mean.device.type == "mps" else torch.float64)


def with_step_cache(model: DiffusionModel, threshold: float, start: float,
                    end: float) -> DiffusionModel:
    """A copy of ``model`` whose runs use a Step Cache (replacing one it had); threshold 0
    removes it."""
    others = tuple(p for p in model.patches if not isinstance(p, StepCache))
    if threshold <= 0:
        return replace(model, patches=others)
    return replace(model, patches=(*others, StepCache(threshold, start, end)))
