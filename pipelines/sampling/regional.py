"""Regional prediction: several conditioning entries per guidance side, each run on its area
of the model input, their predictions summed with their weights and divided by the summed
weights, as ComfyUI's ``calc_cond_batch`` does (``pipelines.sampling.regions`` resolves the
areas, masks, weights and step ranges). Used by the denoise loop only when a conditioning is
not plain (combined, an area, a mask or a step range); the plain path stays one batched call.

ComfyUI averages clean-sample (x0) estimates, we average the model's own prediction (noise,
v or flow velocity): each is affine in the other with the same coefficients at a step, so the
weighted averages agree wherever an entry covers a cell; a cell no entry covers gets the
prediction of x0 = 0, as ComfyUI's 0 / 1e-37 gives there. Differences, by design: entries run
one call each (ComfyUI batches entries of equal shape: only the speed differs); an area's
SDXL size conditioning is the area's size in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipelines.families.unet import batched
from pipelines.sampling.control import ControlRun, prepare_control
from pipelines.sampling.regions import (
    Region,
    active_steps,
    add_opposites,
    levels,
    resolve,
    weight,
    zero_x0_scales,
)
from pipelines.values import Conditioning, DiffusionModel

_EMPTY = 1e-37  # ComfyUI's starting count: a cell no entry covers divides 0 by it


@dataclass(eq=False)
class _Entry:
    box: tuple[int, int, int, int]  # height, width, y, x (latent cells)
    mult: torch.Tensor  # [1 or B, 1, h, w] on the run device
    inputs: dict[str, Any]
    control: ControlRun | None
    active: list[bool]


def _rows(value: Any, b: int, uncond: bool, cfg_batch: bool) -> Any:
    """One side's rows of values batched as [uncond, cond] (others, and position ids, which
    are shared, as they are)."""
    if isinstance(value, torch.Tensor):
        if cfg_batch and value.dim() and value.shape[0] == 2 * b:
            return value[:b] if uncond else value[b:]
        return value
    if isinstance(value, dict):
        return {k: v if k in ("txt_ids", "img_ids") else _rows(v, b, uncond, cfg_batch)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rows(v, b, uncond, cfg_batch) for v in value]
    return value


class RegionalRun:
    """The entries of one run, prepared before the loop; ``predict`` replaces the one batched
    denoiser call of a step."""

    def __init__(self, model: DiffusionModel, family: Any, sides: list[list[_Entry]],
                 batch: int, cfg_batch: bool, zero_x0: list[float]) -> None:
        self.model, self.family, self.sides = model, family, sides
        self.batch, self.cfg_batch, self.zero_x0 = batch, cfg_batch, zero_x0

    def predict(self, step: int, t: Any, model_input: torch.Tensor, base_inputs: dict[str, Any],
                dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The step's (uncond, cond) predictions (uncond None without CFG), all output
        channels, float32.

        ``model_input``: one half of the denoiser input [B, C (+ inpainting channels), h, w],
        scaled and in ``dtype``; ``base_inputs``: the run's own denoiser inputs (of the first
        entries), from which what per-run patches and image conditions add is taken."""
        b = self.batch
        x_in = model_input
        height, width = x_in.shape[2], x_in.shape[3]
        # what the run adds to its own inputs (an IP-Adapter patch's image embeddings, an image
        # condition's noise level) reaches every entry, with this side's rows; the entry's own
        # inputs (text states, pooled outputs, ids) take precedence
        base = [_rows(base_inputs, b, self.cfg_batch and index == 0, self.cfg_batch)
                for index in range(len(self.sides))]
        outs: list[torch.Tensor | None] = []
        counts: list[torch.Tensor] = []
        for index, entries in enumerate(self.sides):
            out: torch.Tensor | None = None
            count = torch.full((b, 1, height, width), _EMPTY, device=x_in.device)
            for entry in entries:
                if not entry.active[step]:
                    continue
                h, w, y, x = entry.box
                crop = x_in[:, :, y:y + h, x:x + w]
                inputs = {**base[index], **entry.inputs}
                extra = base[index].get("added_cond_kwargs")
                if extra:  # patches' additions (IP-Adapter embeddings) beside the entry's own
                    inputs["added_cond_kwargs"] = {**extra, **(entry.inputs.get(
                        "added_cond_kwargs") or {})}
                if entry.control is not None:
                    inputs = entry.control.step_inputs(step, crop, t, inputs, dtype)
                pred = self.family.call_denoiser(self.model, crop, t, inputs).float()
                if out is None:
                    out = torch.zeros((b, pred.shape[1], height, width), device=pred.device)
                out[:, :, y:y + h, x:x + w] += pred * entry.mult
                count[:, :, y:y + h, x:x + w] += entry.mult
            outs.append(None if out is None else out / count)
            counts.append(count)
        shape = next((o.shape for o in outs if o is not None),
                     (b, self.model.latent_channels, height, width))
        # where no entry counted: the prediction of x0 = 0 (its noise half; no variance)
        zero = torch.zeros(shape, device=x_in.device)
        channels = min(shape[1], x_in.shape[1], self.model.latent_channels or shape[1])
        zero[:, :channels] = x_in[:, :channels].float() * self.zero_x0[step]
        filled = [zero if o is None else torch.where(c == _EMPTY, zero, o)
                  for o, c in zip(outs, counts, strict=True)]
        return (filled[0], filled[1]) if self.cfg_batch else (None, filled[0])


def is_regional(positive: Conditioning, negative: Conditioning | None) -> bool:
    """Whether a run with these conditionings (``negative`` None without CFG) goes the
    regional way: some conditioning is not plain."""
    return not positive.plain or (negative is not None and not negative.plain)


def regional_run(model: DiffusionModel, family: Any, positive: Conditioning,
                 negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
                 scheduler: Any, timesteps: torch.Tensor,
                 options: dict[str, Any]) -> RegionalRun | None:
    """The ``RegionalRun`` of a run, or None when every conditioning is plain (one entry
    everywhere, all the time), where the loop's own batched call is exact and faster.

    Args:
        x: The starting latent [B, C, h, w] on the run device.
        negative: Counted only when ``cfg_batch``.
        scheduler, timesteps: The run's scheduler (timesteps set) and loop timesteps.
        options: The family's ``timestep_options`` of the run (Flux's shift ``mu``).
    """
    negative = negative if cfg_batch else None
    if not is_regional(positive, negative):
        return None
    batch, height, width = x.shape[0], x.shape[2], x.shape[3]
    factor = int(model.vae_scale_factor or 1)
    pos = resolve(positive, height, width, factor, x.device)
    neg = resolve(negative, height, width, factor, x.device) if negative is not None else []
    if negative is not None:
        add_opposites(pos, neg)
    step_levels, level_of = levels(scheduler, timesteps, options)
    sides = [neg, pos] if cfg_batch else [pos]
    prepared = [[e for e in (_prepare(model, family, region, x, cfg, index == 0 and cfg_batch,
                                      step_levels, level_of, len(timesteps))
                             for region in regions) if e is not None]
                for index, regions in enumerate(sides)]
    return RegionalRun(model, family, prepared, batch, cfg_batch,
                       zero_x0_scales(scheduler, step_levels))


def _prepare(model: DiffusionModel, family: Any, region: Region, x: torch.Tensor, cfg: float,
             uncond: bool, step_levels: list[float], level_of: Any, total: int) -> _Entry | None:
    box, mult = weight(region, x.shape[2], x.shape[3], x.shape[0])
    h, w, y, top = box
    if h <= 0 or w <= 0:
        return None
    crop = x[:, :, y:y + h, top:top + w]
    cond, b = region.cond, x.shape[0]
    context = batched(cond.embeds, b, "conditioning").to(x.device)
    if uncond:  # built as a [uncond, cond] pair so a family's negative-only values apply
        inputs = _rows(family.denoiser_inputs(model, torch.cat([context, context]), cond, cond,
                                              crop, True, cfg), b, True, True)
    else:
        inputs = family.denoiser_inputs(model, context, cond, None, crop, False, cfg)
    control = prepare_control(model, cond, None, crop, False, total) if cond.control else None
    if control is not None:
        family.check_control(model)
    return _Entry(box, mult.to(x.device), inputs, control,
                  active_steps(cond, step_levels, level_of))
