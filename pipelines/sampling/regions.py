"""Where and when each conditioning entry acts, resolved as ComfyUI's samplers do before the
loop (``resolve_areas_and_cond_masks``, ``create_cond_with_same_area_if_none``,
``calculate_start_end_timesteps``) and weighted as its ``get_area_and_mult`` does:

- an area (pixels / 8, or a fraction of the latent) crops the model input; a mask (resized to
  the latent, bilinear) times its strength weighs each cell; ``area_from_mask`` crops to the
  mask's bounding box (at least 8 cells a side);
- an area without a mask fades in over 8 cells on every side that is not the latent's edge;
- the weight is then times the entry's strength;
- each area of one side gets an entry of the same area on the other side (the smallest
  enclosing entry's prompt there), so both halves of the guidance cover the same regions;
- an entry acts at a step when its noise level lies within [level(start), level(end)].

``pipelines.sampling.regional`` runs the entries and sums their weighted predictions; a cell
that no active entry of a side covers gets the prediction of a clean sample of 0, as ComfyUI
(which averages clean-sample estimates) gives there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.errors import StudioError
from pipelines.values import Conditioning

FADE = 8  # cells over which an area's weight rises from its inner edges (ComfyUI's rr)


@dataclass(eq=False)
class Region:
    """One entry of a side with its area in latent cells (height, width, y, x) and its mask
    [Bm, h, w] at the latent size (None: everywhere)."""

    cond: Conditioning
    area: tuple[int, int, int, int] | None
    mask: torch.Tensor | None


def resolve(cond: Conditioning, height: int, width: int, factor: int,
            device: torch.device) -> list[Region]:
    """The entries of ``cond`` with areas in latent cells and masks at the latent size."""
    regions = []
    for entry in cond.entries():
        area = None
        if entry.area is not None:
            kind, h, w, y, x = entry.area
            if kind == "percentage":
                area = (max(1, round(h * height)), max(1, round(w * width)),
                        round(y * height), round(x * width))
            else:  # pixels: one latent cell per ``factor`` pixels (ComfyUI: // 8)
                area = (int(h) // factor, int(w) // factor, int(y) // factor, int(x) // factor)
        mask = None
        if entry.mask is not None:
            mask = entry.mask.to(device=device, dtype=torch.float32)
            if mask.dim() == 2:
                mask = mask.unsqueeze(0)
            if tuple(mask.shape[1:]) != (height, width):
                mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear",
                                     align_corners=False).squeeze(1)
            if entry.area_from_mask:
                area = _bounds(mask)
        regions.append(Region(entry, area, mask))
    return regions


def _bounds(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """The bounding box of a mask's nonzero cells over the batch, at least 8 cells a side."""
    cells = torch.nonzero(mask.abs().max(dim=0).values)
    if len(cells) == 0:
        return (8, 8, 0, 0)  # all zero: the smallest area (its weight is 0 anyway)
    y0, x0 = (int(v) for v in cells.min(dim=0).values)
    y1, x1 = (int(v) for v in cells.max(dim=0).values)
    return (max(8, y1 - y0 + 1), max(8, x1 - x0 + 1), y0, x0)


def add_opposites(positive: list[Region], negative: list[Region]) -> None:
    """Give each area of one side an entry of the same area on the other (in place)."""
    for region in list(positive):
        _add_opposite(negative, region)
    for region in list(negative):
        _add_opposite(positive, region)


def _add_opposite(others: list[Region], region: Region) -> None:
    if region.area is None:
        return
    h, w, y, x = region.area
    smallest: Region | None = None
    for other in others:
        if other.area is None:
            smallest = other if smallest is None else smallest
            continue
        oh, ow, oy, ox = other.area
        if y >= oy and x >= ox and oh + oy >= h + y and ow + ox >= w + x:
            if smallest is None or smallest.area is None or (
                    smallest.area[0] * smallest.area[1] > oh * ow):
                smallest = other
    if smallest is None or smallest.area == region.area:
        return
    # ComfyUI copies the entry and swaps in the other side's prompt (its model inputs)
    cond = replace(region.cond, embeds=smallest.cond.embeds, extras=smallest.cond.extras,
                   text=smallest.cond.text)
    others.append(Region(cond, region.area, region.mask))


def weight(region: Region, height: int, width: int,
           batch: int) -> tuple[tuple[int, int, int, int], torch.Tensor]:
    """The cells the entry covers (height, width, y, x), clipped to the latent, and its weight
    there [1 or B, 1, h, w] (float32, on the mask's device or the CPU).

    Raises:
        StudioError: a mask batch that is neither 1 nor at least the latent batch.
    """
    if region.area is None:
        box = (height, width, 0, 0)
    else:
        h, w, y, x = region.area
        box = (min(height - y, h), min(width - x, w), y, x)
    h, w, y, x = box
    cond = region.cond
    if region.mask is not None:
        mask = region.mask[:batch]
        if mask.shape[0] not in (1, batch):
            raise StudioError(f"A conditioning mask has a batch of {region.mask.shape[0]}; it "
                              f"must be 1 or at least the latent batch ({batch})")
        mult = (mask[:, y:y + h, x:x + w] * cond.mask_strength).unsqueeze(1)
    else:
        mult = torch.ones((1, 1, max(h, 0), max(w, 0)))
    mult = mult * cond.strength
    if region.mask is None and region.area is not None:
        for dim, (size, offset, full) in ((2, (h, y, height)), (3, (w, x, width))):
            for t in range(FADE):
                if t >= size:
                    break
                ramp = (1.0 / FADE) * (t + 1)
                if offset != 0:
                    mult.narrow(dim, t, 1).mul_(ramp)
                if size + offset < full:
                    mult.narrow(dim, size - 1 - t, 1).mul_(ramp)
    return box, mult


def levels(scheduler: Any, timesteps: torch.Tensor,
           options: dict[str, Any]) -> tuple[list[float], Any]:
    """Each step's noise level and ``level_of(fraction)``, the level at a fraction of the
    schedule, in one monotonic scale: the timestep for discrete schedules (ComfyUI's sigma at
    timestep (1 - p) * 999; sigma grows with the timestep), sigma for flow matching (the
    model's shift applied to 1 - p, a fixed or the resolution's exponential shift)."""
    config = scheduler.config
    values = [float(t) for t in timesteps.detach().float().cpu().tolist()]
    if not _is_flow(scheduler):
        return values, lambda p: (1.0 - p) * 999.0
    train = float(config.get("num_train_timesteps", 1000))
    dynamic = bool(config.get("use_dynamic_shifting", False)) and options.get("mu") is not None
    shift = float(config.get("shift", 1.0))
    mu = float(options.get("mu") or 0.0)

    def level_of(p: float) -> float:
        s = 1.0 - p
        if s <= 0:
            return 0.0
        if dynamic:
            return math.exp(mu) / (math.exp(mu) + (1.0 / s - 1.0))
        return shift * s / (1.0 + (shift - 1.0) * s)

    return [v / train for v in values], level_of


def _is_flow(scheduler: Any) -> bool:
    """Flow matching: the FlowMatch schedulers, and solvers run on flow sigmas (timesteps are
    sigma x the training steps there too)."""
    config = scheduler.config
    return (str(config.get("_class_name", type(scheduler).__name__)).startswith("FlowMatch")
            or bool(config.get("use_flow_sigmas", False))
            or config.get("prediction_type") == "flow_prediction")


def active_steps(cond: Conditioning, step_levels: list[float], level_of: Any) -> list[bool]:
    """Whether the entry acts at each step (ComfyUI skips it above level(start) and below
    level(end); start 0 and end 1 are unbounded)."""
    top = math.inf if cond.start <= 0 else level_of(cond.start)
    bottom = -math.inf if cond.end >= 1 else level_of(cond.end)
    return [bottom <= level <= top for level in step_levels]


def zero_x0_scales(scheduler: Any, step_levels: list[float]) -> list[float]:
    """Per step, the factor turning the scaled model input into the prediction whose clean
    sample is 0: ComfyUI averages clean-sample estimates, so a cell no entry covers gets
    x0 = 0 there. With the input m = alpha x0 + sigma eps (the schedulers' scaled input),
    that is eps = m / sigma, v = alpha m / sigma; flow matching (m = (1 - s) x0 + s eps,
    v = eps - x0) gives m / s; a "sample" model predicts 0."""
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if _is_flow(scheduler):
        return [1.0 / max(level, 1e-6) for level in step_levels]
    if prediction == "sample":
        return [0.0 for _ in step_levels]
    cumprod = getattr(scheduler, "alphas_cumprod", None)
    if cumprod is None:
        return [0.0 for _ in step_levels]
    cumprod = cumprod.double().clamp(1e-12, 1 - 1e-12)  # zero-SNR schedules end at 0
    # read once, as Python floats (the schedule may be on the run device)
    log_sigmas = (((1 - cumprod) / cumprod) ** 0.5).log().tolist()
    logs = []
    for t in step_levels:  # log sigma interpolated at the (possibly fractional) timestep
        low = min(max(int(math.floor(t)), 0), len(log_sigmas) - 1)
        high = min(low + 1, len(log_sigmas) - 1)
        w = min(max(t - low, 0.0), 1.0)
        logs.append(log_sigmas[low] * (1 - w) + log_sigmas[high] * w)
    scales = []
    for log_sigma in logs:
        sigma = math.exp(log_sigma)
        alpha_t, sigma_t = (1 + sigma**2) ** -0.5, sigma * (1 + sigma**2) ** -0.5
        scales.append(alpha_t / sigma_t if prediction == "v_prediction" else 1.0 / sigma_t)
    return scales
