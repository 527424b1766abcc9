"""The unCLIP scheduler on the common denoise loop: ``UnCLIPScheduler`` steps to the timestep
it is given as ``prev_timestep`` (else to ``t - 1``), which ``UnCLIPPipeline`` passes every step;
this subclass finds it in its own schedule, so the loop calls ``step`` like any scheduler's. Its
timesteps stay on the CPU (the scheduler indexes its CPU tables with them anyway), so asking
"is this the last step?" (Karlo's super-resolution switches UNets there) never waits on a GPU."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UnCLIPScheduler


class UnCLIPStepScheduler(UnCLIPScheduler):
    def set_timesteps(self, num_inference_steps: int,
                      device: str | torch.device | None = None) -> None:
        if num_inference_steps < 2:  # it spaces timesteps by (T - 1) / (steps - 1)
            raise ValueError(f"steps must be at least 2, got {num_inference_steps}")
        super().set_timesteps(num_inference_steps, device="cpu")
        self._next = {int(t): int(n) for t, n in zip(self.timesteps[:-1], self.timesteps[1:],
                                                      strict=True)}

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor,
             prev_timestep: Any = None, generator: Any = None, return_dict: bool = True) -> Any:
        if prev_timestep is None:
            prev_timestep = self._next.get(int(timestep))  # None after the last: to x0
        return super().step(model_output, timestep, sample, prev_timestep=prev_timestep,
                            generator=generator, return_dict=return_dict)


def make_unclip_scheduler(sampler: str, schedule: str, config: dict[str, Any]) -> Any:
    """The unCLIP stages' own scheduler (they have no sampler or schedule choice)."""
    return UnCLIPStepScheduler.from_config(config)
