"""ControlNets and T2I-Adapters in the denoising loop.

``apply_control`` attaches a ``ControlHint`` (network + hint image + strength + start/end) to a
positive and a negative conditioning, as ComfyUI's ControlNetApplyAdvanced does; applying
again stacks (multi-ControlNet). ``prepare_control`` turns the hints of one run into a
``ControlRun`` whose ``step_inputs`` adds the residuals to the UNet's inputs every step,
exactly as diffusers' StableDiffusion(XL)ControlNetPipeline and StableDiffusionAdapterPipeline:

- a step ``i`` of ``n`` is controlled when not ``i / n < start or (i + 1) / n > end``;
- a ControlNet runs on the (scaled) model input with the same text states and SDXL extras as
  the UNet and its residuals, times the strength, are summed over the nets
  (``down_block_additional_residuals`` / ``mid_block_additional_residual``);
- a T2I-Adapter's features are computed once from the hint, times the strength, summed over
  adapters and passed as ``down_intrablock_additional_residuals``.

A hint on only one side of the classifier-free guidance batch (ControlNetApply on the
positive) steers that half alone; the other half gets zero residuals. The hint image is
prepared as diffusers' ``prepare_image``: [B, H, W, 3] in 0..1 -> [B, 3, H, W], resized
(nearest, diffusers' tensor path) to the latent size times the VAE scale factor. An optional
mask (1 = controlled) scales the residuals per pixel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.errors import StudioError
from pipelines.values import Conditioning, ControlNet, DiffusionModel


@dataclass(frozen=True, eq=False)
class ControlHint:
    """One applied ControlNet/T2I-Adapter: the network, the hint image [B, H, W, 3] (0..1),
    its strength, the fraction of the schedule [start, end] it acts in, and an optional mask."""

    control: ControlNet
    image: torch.Tensor
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0
    mask: torch.Tensor | None = None
    guess_mode: bool = False  # soft weights; steers the positive alone (see apply_control)
    vae: Any = None  # the VAE a latent-hint ControlNet (SD3/Flux) encodes the hint with


def apply_control(
    positive: Conditioning, negative: Conditioning | None, control: ControlNet,
    image: torch.Tensor, strength: float = 1.0, start: float = 0.0, end: float = 1.0,
    mask: torch.Tensor | None = None, guess_mode: bool = False, vae: Any = None,
) -> tuple[Conditioning, Conditioning | None]:
    """``positive`` and ``negative`` with one more control hint (the same hint on both).

    A strength of 0 returns them unchanged (as ComfyUI). In guess mode (diffusers'
    ``guess_mode``, also implied by a ControlNet with ``global_pool_conditions`` such as
    shuffle) the hint steers the positive alone, its residuals scaled from 0.1 (first) to 1
    (middle block) times the strength; a T2I-Adapter has no guess mode.

    Raises:
        ValueError: start after end, or not an image batch.
    """
    if not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"start ({start}) and end ({end}) must satisfy 0 <= start <= end <= 1")
    if image.dim() != 4 or image.shape[-1] != 3:
        raise ValueError(f"the hint must be an image batch [B, H, W, 3], got {tuple(image.shape)}")
    if strength == 0:
        return positive, negative
    config = getattr(control.network, "config", None)
    guess_mode = control.kind != "t2i_adapter" and (
        guess_mode or bool(getattr(config, "global_pool_conditions", False)))
    hint = ControlHint(control, image, float(strength), float(start), float(end), mask,
                       guess_mode, vae)

    def add(entry: Conditioning) -> Conditioning:  # every entry of a combined conditioning
        return dataclasses.replace(entry, control=(*entry.control, hint))

    positive = positive.each(add)
    if negative is not None and not guess_mode:  # guess mode: the positive only (diffusers)
        negative = negative.each(add)
    return positive, negative


def control_networks(*conditionings: Conditioning | None) -> list[ControlNet]:
    """The distinct ControlNets/T2I-Adapters the conditionings use (for device placement)."""
    found: dict[int, ControlNet] = {}
    entries = [entry for cond in conditionings if cond is not None for entry in cond.entries()]
    for hint in (hint for entry in entries for hint in entry.control):
        found.setdefault(id(hint.control), hint.control)
    return list(found.values())


def _hint_pixels(hint: ControlHint, batch: int, height: int, width: int,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    image = hint.image.detach().to(torch.float32).permute(0, 3, 1, 2).contiguous()
    if tuple(image.shape[-2:]) != (height, width):
        image = F.interpolate(image, size=(height, width))
    if image.shape[0] != batch:
        if image.shape[0] != 1:
            raise StudioError(f"The hint image batch ({image.shape[0]}) must be 1 or the "
                              f"latent batch ({batch}).")
        image = image.repeat(batch, 1, 1, 1)
    return image.to(device=device, dtype=dtype)


def _keep(hint: ControlHint, step: int, total: int) -> bool:
    return not (step / total < hint.start or (step + 1) / total > hint.end)


def _masked(residual: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return residual
    m = mask.to(device=residual.device, dtype=torch.float32)
    while m.dim() < 4:
        m = m.unsqueeze(0 if m.dim() < 3 else 1)
    m = F.interpolate(m[:, :1], size=residual.shape[-2:], mode="bilinear", align_corners=False)
    return residual * m.clamp(0, 1).to(residual.dtype)


@dataclass
class _Active:
    hint: ControlHint
    halves: slice  # the rows of the denoiser batch it steers
    pixels: torch.Tensor  # for a ControlNet: the prepared hint of those rows
    features: list[torch.Tensor] | None = None  # for an adapter: its scaled residuals
    dtype: torch.dtype = torch.float32


class ControlRun:
    """The control hints of one sampling run, prepared once (see the module doc)."""

    def __init__(self, active: list[_Active], rows: int, total: int) -> None:
        self.active, self.rows, self.total = active, rows, total

    def _pad(self, value: torch.Tensor, rows: slice) -> torch.Tensor:
        if value.shape[0] == self.rows:
            return value
        full = torch.zeros((self.rows, *value.shape[1:]), dtype=value.dtype, device=value.device)
        full[rows] = value
        return full

    def step_inputs(self, step: int, model_input: torch.Tensor, t: Any,
                    inputs: dict[str, Any], unet_dtype: torch.dtype) -> dict[str, Any]:
        """``inputs`` plus this step's residuals (a new dict; ``inputs`` is not changed)."""
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        intrablock: list[torch.Tensor] | None = None
        for item in self.active:
            if not _keep(item.hint, step, self.total):
                continue
            if item.features is not None:
                feats = [f.clone() for f in item.features]
                intrablock = feats if intrablock is None else [a + b for a, b in
                                                               zip(intrablock, feats, strict=True)]
                continue
            d, m = self._controlnet(item, model_input, t, inputs)
            d = [self._pad(_masked(r, item.hint.mask), item.halves).to(unet_dtype) for r in d]
            m = self._pad(_masked(m, item.hint.mask), item.halves).to(unet_dtype)
            down = d if down is None else [a + b for a, b in zip(down, d, strict=True)]
            mid = m if mid is None else mid + m
        if down is None and intrablock is None:
            return inputs
        result = dict(inputs)
        if down is not None:
            result["down_block_additional_residuals"] = down
            result["mid_block_additional_residual"] = mid
        if intrablock is not None:
            result["down_intrablock_additional_residuals"] = intrablock
        return result

    def _controlnet(self, item: _Active, model_input: torch.Tensor, t: Any,
                    inputs: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        from pipelines.sampling.control_call import controlnet_residuals

        net, rows = item.hint.control.network, item.halves
        sample = model_input[rows, : net.config.in_channels].to(item.dtype)
        added = inputs.get("added_cond_kwargs")
        if added is not None:
            added = {k: v[rows].to(item.dtype) for k, v in added.items() if k != "image_embeds"}
        return controlnet_residuals(
            item.hint.control, sample, t, inputs["encoder_hidden_states"][rows].to(item.dtype),
            item.pixels, item.hint.strength, item.hint.guess_mode, added)


def prepare_control(
    model: DiffusionModel, positive: Conditioning, negative: Conditioning | None,
    x: torch.Tensor, cfg_batch: bool, total: int,
) -> ControlRun | None:
    """The ``ControlRun`` of one sampling run, or None without hints.

    Args:
        model: The model being sampled (its ``vae_scale_factor`` sizes the hint).
        positive, negative: The run's conditionings; the negative counts only when
            ``cfg_batch`` (the denoiser batch is [uncond, cond]).
        x: The starting latent [B, C, h, w] on the run device.
        total: The number of denoiser steps of the run (for start/end).

    Raises:
        StudioError: a hint batch that fits neither 1 nor the latent batch.
    """
    from pipelines.sampling.transformer_control import prepare_transformer_control

    transformer_run = prepare_transformer_control(model, positive, negative, x, cfg_batch, total)
    if transformer_run is not None:  # SD3 / Flux ControlNets (their own runner)
        return transformer_run  # type: ignore[return-value]
    sides = [(positive, 1)] + ([(negative, 0)] if cfg_batch and negative is not None else [])
    where: dict[int, tuple[ControlHint, set[int]]] = {}
    for cond, half in sides:
        for hint in cond.control:
            where.setdefault(id(hint), (hint, set()))[1].add(half)
    if not where:
        return None
    batch, halves = x.shape[0], 2 if cfg_batch else 1
    height, width = (x.shape[2] * model.vae_scale_factor, x.shape[3] * model.vae_scale_factor)
    active = []
    for hint, used in where.values():
        if halves == 1 or len(used) == 2:
            rows, count = slice(0, halves * batch), halves
        else:
            half = next(iter(used))
            rows, count = slice(half * batch, (half + 1) * batch), 1
        network = hint.control.network
        _check_fits(hint.control, positive.embeds.shape[-1])
        dtype = next(network.parameters()).dtype
        pixels = _hint_pixels(hint, batch, height, width, x.device, dtype)
        pixels = torch.cat([pixels] * count) if count > 1 else pixels
        item = _Active(hint, rows, pixels, dtype=dtype)
        if hint.control.kind == "t2i_adapter":
            if getattr(network.config, "in_channels", 3) == 1:  # sketch adapters: gray, as ComfyUI
                pixels = pixels.mean(dim=1, keepdim=True)
            with torch.inference_mode():
                features = [_masked(f * hint.strength, hint.mask)
                            for f in network(pixels[:batch])]
            item.features = [f.repeat(count, 1, 1, 1) if count > 1 else f for f in features]
            item.features = [_pad_rows(f, rows, halves * batch) for f in item.features]
        active.append(item)
    return ControlRun(active, halves * batch, total)


def _check_fits(control: ControlNet, width: int) -> None:
    """A ControlNet reads the prompt: its cross-attention width must be the model's."""
    wanted = getattr(control.network.config, "cross_attention_dim", None)
    if control.kind != "t2i_adapter" and isinstance(wanted, int) and wanted != width:
        raise StudioError(f"{control.source}: this ControlNet takes text states {wanted} wide "
                          f"but the prompt is {width} wide: it was made for another model "
                          "family (e.g. an SDXL ControlNet on an SD 1.5 model)")


def _pad_rows(value: torch.Tensor, rows: slice, total: int) -> torch.Tensor:
    if value.shape[0] == total:
        return value
    full = torch.zeros((total, *value.shape[1:]), dtype=value.dtype, device=value.device)
    full[rows] = value
    return full
