"""The per-step model prediction and its guidance: what the denoise loop asks once a step.

``Guidance.predict(model_input, t, step)`` calls the denoiser (the way the model's family
says) on the conditionings of the run and combines the predictions:

- classifier-free guidance (ComfyUI's CFG Guider, our Sampler): ``uncond + cfg * (cond -
  uncond)``, the uncond pass skipped when ``cfg == 1`` (ComfyUI's Basic Guider is cfg 1);
- dual CFG (ComfyUI's Dual CFG Guider): a middle conditioning between the negative and the
  positive, ``neg + cfg2 * (middle - neg) + cfg * (pos - middle)`` ("regular") or
  ``neg + cfg2 * (middle + cfg * (pos - middle) - neg)`` ("nested").

Everything a step needs (the text embeddings batched, the family's extra inputs, ControlNet
residual runners) is prepared once, in the constructor. Area/mask-weighted conditioning hooks
in at ``_predict_pair``: the one place that turns one (negative, positive) pair into
predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pipelines.families.unet import batched as _batched
from pipelines.sampling.control import prepare_control
from pipelines.sampling.model_sampling import rescale_guidance
from pipelines.sampling.regional import is_regional

if TYPE_CHECKING:
    from pipelines.sampling.regional import RegionalRun
    from pipelines.values import Conditioning, DiffusionModel


@dataclass(frozen=True)
class DualCFG:
    """The middle conditioning of dual CFG and its scale (ComfyUI's ``cond2`` and
    ``cfg_cond2_negative``); the run's ``cfg`` is ComfyUI's ``cfg_conds``."""

    middle: Conditioning
    cfg: float
    nested: bool = False


def same_length(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Long prompts have several token windows: repeat each side's windows up to the least
    common multiple so both halves of the CFG batch have one sequence length."""
    if a.shape[1] == b.shape[1]:
        return a, b
    length = math.lcm(a.shape[1], b.shape[1])
    return a.repeat(1, length // a.shape[1], 1), b.repeat(1, length // b.shape[1], 1)


class _Pass:
    """One denoiser call per step: [negative, positive] (CFG) or the positive alone."""

    def __init__(self, model: DiffusionModel, family: Any, positive: Conditioning,
                 negative: Conditioning | None, x: torch.Tensor, cfg: float, total: int,
                 condition_inputs: dict[str, Any], control: bool = True) -> None:
        batch = x.shape[0]
        self.do_cfg = negative is not None
        embeds = _batched(positive.embeds, batch, "positive conditioning")
        if self.do_cfg:
            negative_embeds = _batched(negative.embeds, batch, "negative conditioning")
            negative_embeds, embeds = same_length(negative_embeds, embeds)
            embeds = torch.cat([negative_embeds, embeds])
        self.inputs = family.denoiser_inputs(model, embeds.to(x.device), positive, negative, x,
                                             self.do_cfg, cfg)
        self.inputs.update(condition_inputs)
        # a regional run prepares each entry's control itself (regional.py): none here then
        self.control = prepare_control(model, positive, negative, x, self.do_cfg,
                                       total) if control else None
        if self.control is not None:
            family.check_control(model)


class Guidance:
    """The model's guided prediction at each step of one run.

    Args:
        model: The diffusion model (on the run device).
        family: Its ``ModelFamily``.
        positive, negative: The conditionings; ``negative`` is not used when ``cfg == 1``.
        cfg: The guidance scale.
        x: The starting latent [B, C, h, w] on the run device (shapes the inputs).
        total: Loop steps of the run (ControlNet start/end).
        dtype: The denoiser's dtype (inputs are cast once).
        condition_inputs: Extra denoiser inputs of an image condition (super-resolution).
        extra: Input channels concatenated every step (inpainting models), or None.
        learned_variance: Whether the scheduler takes the predicted variance too.
        dual: A middle conditioning (dual CFG), or None.

    Raises:
        ValueError: A negative is needed (``cfg != 1``) but missing.
    """

    def __init__(self, model: DiffusionModel, family: Any, positive: Conditioning,
                 negative: Conditioning | None, cfg: float, x: torch.Tensor, total: int,
                 dtype: torch.dtype, condition_inputs: dict[str, Any] | None = None,
                 extra: torch.Tensor | None = None, learned_variance: bool = False,
                 dual: DualCFG | None = None) -> None:
        self.model, self.family, self.cfg, self.dtype, self.dual = model, family, cfg, dtype, dual
        self.do_cfg = cfg != 1.0 or dual is not None
        if self.do_cfg and negative is None:
            raise ValueError("A negative conditioning is needed when cfg is not 1")
        if dual is not None and (positive.control or dual.middle.control):
            raise ValueError("Dual CFG does not take ControlNet hints here; apply them with "
                             "a CFG Guider")
        self.channels = x.shape[1]
        self.latent_dtype = x.dtype  # what the scheduler steps in: the guided output's dtype
        self.learned_variance = learned_variance
        self.extra = None if extra is None else extra.to(dtype)
        inputs = condition_inputs or {}
        # dual CFG: [negative, middle] in one call and the positive alone in another
        first = dual.middle if dual is not None else positive
        main_negative = negative if self.do_cfg else None
        self.main = _Pass(model, family, first, main_negative, x, cfg, total, inputs,
                          control=not is_regional(positive, main_negative))
        self.positive = None if dual is None else _Pass(model, family, positive, None, x, cfg,
                                                        total, inputs)
        # the run's model patches (``patches.StepHooks``), set by the loop once they are
        # installed: wrappers of the main pass's denoiser call (the Step Cache)
        self.hooks: Any = None
        # per-entry conditionings (areas, masks, step ranges, combines), set by the loop
        self.regions: RegionalRun | None = None

    @property
    def inputs(self) -> dict[str, Any]:
        """The main pass's denoiser inputs (per-run model patches add to them)."""
        return self.main.inputs

    def _call(self, run: _Pass, model_input: torch.Tensor, t: Any, step: int) -> torch.Tensor:
        if run.do_cfg:
            model_input = torch.cat([model_input, model_input])
        if self.extra is not None:
            model_input = torch.cat([model_input, self.extra], dim=1)
        control = run.control
        if self.hooks is not None and run is self.main:
            call = self.family.call_denoiser
            if control is not None:  # inside the wrappers: a reused step runs no ControlNet
                def call(model: Any, x: torch.Tensor, t: Any,
                         inputs: dict[str, Any]) -> torch.Tensor:
                    return self.family.call_denoiser(
                        model, x, t, control.step_inputs(step, x, t, inputs, self.dtype))
            return self.hooks.call(call, self.model, model_input, t, run.inputs)
        step_inputs = run.inputs if control is None else control.step_inputs(
            step, model_input, t, run.inputs, self.dtype)
        return self.family.call_denoiser(self.model, model_input, t, step_inputs)

    def _predict_pair(self, model_input: torch.Tensor, t: Any,
                      step: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(uncond, cond) predictions of the main pass (uncond None without CFG), each with
        all output channels (a learned variance included)."""
        if self.regions is not None:  # one half in, (uncond, cond) out
            half = model_input if self.extra is None else torch.cat(
                [model_input, self.extra[:model_input.shape[0]]], 1)
            return self.regions.predict(step, t, half, self.main.inputs, self.dtype)
        output = self._call(self.main, model_input, t, step)
        if not self.main.do_cfg:
            return None, output
        uncond, cond = output.chunk(2)
        return uncond, cond

    def predict(self, model_input: torch.Tensor, t: Any, step: int) -> torch.Tensor:
        """The guided model output for the scheduler's ``step``.

        Args:
            model_input: The scheduler-scaled sample (image condition concatenated), already
                in the denoiser's dtype, batch B.
            t: The step's timestep.
            step: The loop step index.

        Returns:
            The guided prediction in the latent's dtype (``x`` of the constructor).
        """
        channels = self.channels
        uncond, cond = self._predict_pair(model_input, t, step)
        if uncond is None:
            output = cond
        else:
            variance = cond[:, channels:]  # empty unless the variance is learned
            uncond, cond = uncond[:, :channels], cond[:, :channels]
            if self.dual is None:
                output = uncond + self.cfg * (cond - uncond)
            else:
                positive = self._call(self.positive, model_input, t, step)[:, :channels]
                output = _dual(uncond, cond, positive, self.cfg, self.dual)
            if self.model.guidance_rescale > 0:
                output = rescale_guidance(output, cond, self.model.guidance_rescale)
            if variance.shape[1]:
                output = torch.cat([output, variance], dim=1)
        if not self.learned_variance:
            output = output[:, :channels]
        # guidance runs on the denoiser's output as it comes (fp16 / bf16 on a GPU, as in
        # diffusers): one cast of the batch-B result, not of the 2B-batch output before CFG
        return output.to(self.latent_dtype)


def _dual(negative: torch.Tensor, middle: torch.Tensor, positive: torch.Tensor, cfg: float,
          dual: DualCFG) -> torch.Tensor:
    """ComfyUI's dual CFG: ``cfg`` between middle and positive, ``dual.cfg`` from the
    negative to the middle (or to the nested result)."""
    if dual.nested:
        text = middle + cfg * (positive - middle)
        return negative + dual.cfg * (text - negative)
    return negative + dual.cfg * (middle - negative) + (positive - middle) * cfg
