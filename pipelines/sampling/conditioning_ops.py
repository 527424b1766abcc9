"""Operations on conditionings, as ComfyUI's Conditioning* nodes define them: combine (a list
of entries, each predicted on its own), concat (token sequences joined), average (embeddings
mixed), zero out, and the area / mask / strength / timestep-range settings every entry of a
conditioning gets. The sampling side of areas and masks is ``pipelines.sampling.regions``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from pipelines.errors import StudioError
from pipelines.values import Conditioning


class ConditioningMismatch(StudioError, ValueError):
    """Two conditionings that cannot be put together (encoded for different model families)."""


def _check_same_kind(a: Conditioning, b: Conditioning, what: str, extras: bool = True) -> None:
    """Refuse mixing families: the text states must be as wide and (``extras``) carry the
    same pooled output / image embedding."""
    if a.embeds.shape[-1] != b.embeds.shape[-1]:
        raise ConditioningMismatch(
            f"{what}: the conditionings come from different text encoders (text states "
            f"{a.embeds.shape[-1]} and {b.embeds.shape[-1]} wide); encode both prompts with "
            "the same model's text encoder")
    for key in ("pooled", "image_embeds") if extras else ():
        ours, theirs = a.extras.get(key), b.extras.get(key)
        if (ours is None) != (theirs is None) or (
                ours is not None and theirs is not None and ours.shape[-1] != theirs.shape[-1]):
            raise ConditioningMismatch(
                f"{what}: the conditionings come from different model families (one has a "
                f"{key.replace('_', ' ')} output the other lacks or is another width)")


def _each(cond: Conditioning, change: Callable[[Conditioning], Conditioning]) -> Conditioning:
    return cond.each(change)


def combine(first: Conditioning, second: Conditioning) -> Conditioning:
    """ComfyUI's ConditioningCombine: the entries of ``first`` then those of ``second``."""
    for entry in second.entries():
        _check_same_kind(first, entry, "Conditioning Combine")
    return replace(first, combined=(*first.combined, *second.entries()))


def concat(to: Conditioning, source: Conditioning) -> Conditioning:
    """ComfyUI's ConditioningConcat: the first entry of ``source``'s tokens appended to every
    entry of ``to`` (pooled outputs and the rest stay ``to``'s)."""
    _check_same_kind(to, source, "Conditioning Concat", extras=False)
    tokens = source.embeds

    def join(entry: Conditioning) -> Conditioning:
        return replace(entry, embeds=torch.cat([entry.embeds, tokens.to(entry.embeds)], dim=1))

    return _each(to, join)


def average(to: Conditioning, source: Conditioning, to_strength: float) -> Conditioning:
    """ComfyUI's ConditioningAverage: ``to * s + source * (1 - s)`` for every entry of ``to``,
    ``source``'s tokens cut or zero-padded to ``to``'s length; pooled outputs mixed alike
    (``source``'s taken when ``to`` has none)."""
    _check_same_kind(to, source, "Conditioning Average", extras=False)
    pooled_from = source.extras.get("pooled")

    def mix(entry: Conditioning) -> Conditioning:
        t1 = entry.embeds
        t0 = source.embeds[:, : t1.shape[1]].to(t1)
        if t0.shape[1] < t1.shape[1]:
            pad = torch.zeros((t0.shape[0], t1.shape[1] - t0.shape[1], t1.shape[2]), dtype=t1.dtype)
            t0 = torch.cat([t0, pad], dim=1)
        extras = dict(entry.extras)
        pooled_to = extras.get("pooled", pooled_from)
        if pooled_from is not None and pooled_to is not None:
            extras["pooled"] = pooled_to * to_strength + pooled_from.to(pooled_to) * (
                1.0 - to_strength)
        return replace(entry, embeds=t1 * to_strength + t0 * (1.0 - to_strength), extras=extras)

    return _each(to, mix)


def zero_out(cond: Conditioning) -> Conditioning:
    """ComfyUI's ConditioningZeroOut: text states and pooled outputs set to zeros."""

    def zero(entry: Conditioning) -> Conditioning:
        extras = dict(entry.extras)
        if "pooled" in extras:
            extras["pooled"] = torch.zeros_like(extras["pooled"])
        return replace(entry, embeds=torch.zeros_like(entry.embeds), extras=extras)

    return _each(cond, zero)


def set_values(cond: Conditioning, **values: Any) -> Conditioning:
    """Every entry with the given fields set (area, strength, mask, start, end, ...)."""
    return _each(cond, lambda entry: replace(entry, **values))


def set_area(cond: Conditioning, width: int, height: int, x: int, y: int,
             strength: float) -> Conditioning:
    """ComfyUI's ConditioningSetArea: a box in pixels (latent cells at sampling time)."""
    return set_values(cond, area=("pixels", int(height), int(width), int(y), int(x)),
                      strength=float(strength), area_from_mask=False)


def set_area_percentage(cond: Conditioning, width: float, height: float, x: float, y: float,
                        strength: float) -> Conditioning:
    """ComfyUI's ConditioningSetAreaPercentage: a box in fractions of the latent."""
    return set_values(cond, area=("percentage", float(height), float(width), float(y),
                                  float(x)), strength=float(strength), area_from_mask=False)


def set_mask(cond: Conditioning, mask: torch.Tensor, strength: float,
             mask_bounds: bool) -> Conditioning:
    """ComfyUI's ConditioningSetMask: a per-pixel weight (resized to the latent when
    sampling); ``mask_bounds`` also crops the model input to the mask's bounding box."""
    mask = mask.float()
    if mask.dim() < 3:
        mask = mask.unsqueeze(0)
    if mask.dim() == 4:  # [B, 1, H, W]
        mask = mask[:, 0]
    return set_values(cond, mask=mask, mask_strength=float(strength), area_from_mask=mask_bounds)


def set_timestep_range(cond: Conditioning, start: float, end: float) -> Conditioning:
    """ComfyUI's ConditioningSetTimestepRange: act only in [start, end] of the schedule."""
    return set_values(cond, start=float(start), end=float(end))
