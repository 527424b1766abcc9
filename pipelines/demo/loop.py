"""The optimisation loop the demo models share (the base model's UNet + text encoder in
``train``, the super-resolution stage in ``superres``): a warm-up/cosine learning rate, AdamW
steps with clipped gradients, an EMA of the weights and a tqdm bar. What a step computes is
the caller's ``loss_at``; the order of its random draws is therefore the caller's too."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def lr_factor(step: int, total: int, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def progress_bar(iterable: range, enabled: bool, desc: str) -> Any:
    """``iterable`` with a tqdm bar when ``enabled``."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, dynamic_ncols=True)


def train_with_ema(module: torch.nn.Module, ema: torch.nn.Module, optimiser: Any, lr: float,
                   steps: int, loss_at: Callable[[int], torch.Tensor], progress: bool,
                   desc: str, after: Callable[[int], None] | None = None) -> list[float]:
    """``steps`` optimiser steps on ``loss_at(step)``: learning rate ``lr`` times
    ``lr_factor``, gradients clipped to norm 1, then ``ema`` moved towards ``module`` (decay
    up to 0.999); ``after(step)`` runs last in each step. Returns the losses."""
    losses: list[float] = []
    bar = progress_bar(range(steps), progress, desc)
    for step in bar:
        for group in optimiser.param_groups:
            group["lr"] = lr * lr_factor(step, steps)
        loss = loss_at(step)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimiser.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), module.parameters(), strict=True):
                p_ema.lerp_(p, 1 - decay)
        losses.append(loss.item())
        if progress and step % 10 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
        if after is not None:
            after(step)
    return losses


def prepare_run(out_dir: str | Path, threads: int | None) -> Path:
    """``out_dir`` as a Path, checked (empty, missing, or a previous model folder to replace),
    with torch's CPU threads set when ``threads`` is given.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty and is not a model folder.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "model_index.json").exists():
        raise FileExistsError(f"{out} exists and is not a model folder; choose another --out")
    if threads:
        torch.set_num_threads(threads)
    return out
