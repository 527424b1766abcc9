"""Per-run patches of a shared denoiser (``DiffusionModel.patches``): each one installs itself
for one run of the denoise loop, may add denoiser inputs, gets a call before every step, and
restores the network when the run ends (also on errors and cancelling)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from pipelines.values import DiffusionModel


def _nothing(index: int) -> None:
    return None


@contextlib.contextmanager
def model_patches(model: DiffusionModel, inputs: dict[str, Any], timesteps: torch.Tensor,
                  cfg_batch: bool, batch: int) -> Iterator[Callable[[int], None]]:
    """Install ``model.patches`` for one run; yields ``before_step(step_index)``.

    Args:
        model: The model (its denoiser already on the run device).
        inputs: The run's denoiser keyword inputs; patches may add to them.
        timesteps: The run's timesteps (one entry per loop step).
        cfg_batch: The batch is [uncond, cond].
        batch: Images per half of the batch.
    """
    if not model.patches:
        yield _nothing
        return
    with contextlib.ExitStack() as stack:
        hooks = [stack.enter_context(patch.run(model, inputs, timesteps, cfg_batch, batch))
                 for patch in model.patches]

        def before_step(index: int) -> None:
            for hook in hooks:
                hook(index)

        yield before_step
