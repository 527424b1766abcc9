"""Per-run patches of a shared denoiser (``DiffusionModel.patches``): each one installs itself
for one run of the denoise loop, may add denoiser inputs, gets a call before every step, and
restores the network when the run ends (also on errors and cancelling).

A patch's per-step hook may also stand between the loop and the denoiser: if it has a
``call(call_next, model, x, t, inputs)`` method, the loop's denoiser call goes through it
(``pipelines.sampling.step_cache`` returns a cached output instead of calling on some steps).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from pipelines.values import DiffusionModel

DenoiserCall = Callable[[DiffusionModel, torch.Tensor, Any, dict[str, Any]], torch.Tensor]


class StepHooks:
    """What the loop calls: ``hooks(index)`` before each step, ``hooks.call(...)`` for the
    denoiser (through the patches that wrap it, innermost last)."""

    def __init__(self, hooks: list[Callable[[int], None]]) -> None:
        self.hooks = hooks
        self.wrappers = [h for h in hooks if callable(getattr(h, "call", None))]

    def __call__(self, index: int) -> None:
        for hook in self.hooks:
            hook(index)

    def call(self, call: DenoiserCall, model: DiffusionModel, x: torch.Tensor, t: Any,
             inputs: dict[str, Any]) -> torch.Tensor:
        for wrapper in reversed(self.wrappers):
            call = _wrapped(wrapper, call)
        return call(model, x, t, inputs)


def _wrapped(wrapper: Any, call_next: DenoiserCall) -> DenoiserCall:
    def call(model: DiffusionModel, x: torch.Tensor, t: Any,
             inputs: dict[str, Any]) -> torch.Tensor:
        return wrapper.call(call_next, model, x, t, inputs)

    return call


_NO_PATCHES = StepHooks([])


@contextlib.contextmanager
def model_patches(model: DiffusionModel, inputs: dict[str, Any], timesteps: torch.Tensor,
                  cfg_batch: bool, batch: int, extra: Sequence[Any] = ()) -> Iterator[StepHooks]:
    """Install ``model.patches`` for one run; yields the ``StepHooks`` (``before_step(i)``,
    ``before_step.call(family.call_denoiser, model, x, t, inputs)``).

    Args:
        model: The model (its denoiser already on the run device).
        inputs: The run's denoiser keyword inputs; patches may add to them.
        timesteps: The run's timesteps (one entry per loop step).
        cfg_batch: The batch is [uncond, cond].
        batch: Images per half of the batch.
        extra: Patches the run's conditionings bring (GLIGEN boxes), installed after the
            model's own.
    """
    patches = [*model.patches, *extra]
    if not patches:
        yield _NO_PATCHES
        return
    with contextlib.ExitStack() as stack:
        yield StepHooks([stack.enter_context(patch.run(model, inputs, timesteps, cfg_batch,
                                                       batch)) for patch in patches])
