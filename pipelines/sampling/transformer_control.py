"""ControlNets of the transformer families (SD3/3.5 ``SD3ControlNetModel``, Flux
``FluxControlNetModel``) in the denoise loop, behind the same Apply ControlNet hints as the
UNet ControlNets (``pipelines.sampling.control``: strength, start/end percent, mask, stacking).

``prepare_transformer_control`` is asked first by ``control.prepare_control``: it returns None
when the run has no transformer ControlNet (the UNet path then runs), else a
``TransformerControlRun`` whose ``step_inputs`` adds this step's residuals to the
transformer's inputs, as StableDiffusion3ControlNetPipeline and FluxControlNetPipeline do:

- a step ``i`` of ``n`` is controlled when not ``i / n < start or (i + 1) / n > end``;
- each net runs on the rows of the denoiser batch its hint is on (a hint on the positive alone
  steers that half; the other half gets zero residuals) and its residuals are scaled by the
  strength (inside the net, as diffusers), masked per token, and summed over the nets;
- nets whose lists have the same length add up first (diffusers' Multi-ControlNet); lists of
  different lengths are spread to every transformer block with the transformer's own indexing
  before adding, so nets of any depth stack (as ComfyUI).

The hint is prepared once per run, as the pipelines' ``prepare_image`` + VAE encode: resized
(nearest) to the latent size times the VAE factor, then the kind's encoding
(``transformer_control_calls.STYLES``). Which kinds a model takes is its family's data
(``ModelFamily.control_kinds``). With classifier-free guidance the net runs on both halves
with each half's prompt (ComfyUI; FluxControlNetPipeline's true CFG reuses the positive's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.errors import StudioError
from pipelines.sampling.transformer_control_calls import STYLES, Residuals, flux_guidance

KIND_LABELS = {"controlnet": "SD/SDXL ControlNet", "controlnet_union": "SDXL ControlNet-Union",
               "t2i_adapter": "T2I-Adapter", "sd3_controlnet": "SD3 ControlNet",
               "flux_controlnet": "Flux ControlNet"}


def needs_vae(control: Any) -> bool:
    """Whether this ControlNet takes its hint as VAE latents (Apply ControlNet's ``vae``)."""
    if control.kind == "sd3_controlnet":
        return True
    return control.kind == "flux_controlnet" and control.network.input_hint_block is None


def union_modes(control: Any) -> int:
    """How many control types a Union net knows (0: not a Union net)."""
    config = getattr(control.network, "config", None)
    if control.kind == "controlnet_union":
        return int(config.num_control_type)
    if control.kind == "flux_controlnet" and getattr(config, "num_mode", None):
        return int(config.num_mode)
    return 0


@dataclass
class _Net:
    hint: Any  # control.ControlHint
    rows: slice  # the rows of the denoiser batch it steers
    cond: torch.Tensor  # its prepared hint for those rows
    mode: torch.Tensor | None  # a Union net's control mode per row
    guidance: torch.Tensor | None  # the guidance per row (Flux nets that embed it)


def _keep(hint: Any, step: int, total: int) -> bool:
    return not (step / total < hint.start or (step + 1) / total > hint.end)


def _rows(inputs: dict[str, Any], rows: slice, total: int) -> dict[str, Any]:
    return {k: v[rows] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == total
            and not k.endswith("_ids") else v for k, v in inputs.items()}


class TransformerControlRun:
    """The transformer ControlNet hints of one sampling run, prepared once (module doc)."""

    def __init__(self, nets: list[_Net], model: Any, rows: int, total: int,
                 latent: tuple[int, int]) -> None:
        self.nets, self.model, self.rows, self.total, self.latent = nets, model, rows, total, latent

    def step_inputs(self, step: int, model_input: torch.Tensor, t: Any,
                    inputs: dict[str, Any], dtype: torch.dtype) -> dict[str, Any]:
        """``inputs`` plus this step's residuals (a new dict; ``inputs`` is not changed)."""
        groups: dict[tuple[Residuals, int], list[torch.Tensor]] = {}
        extra: dict[str, Any] = {}
        transformer = self.model.denoiser
        for net in self.nets:
            if not _keep(net.hint, step, self.total):
                continue
            control = net.hint.control
            style = STYLES[control.kind]
            with torch.no_grad():
                lists = style.call(control.network, transformer, model_input[net.rows], t,
                                   _rows(inputs, net.rows, self.rows), net.cond,
                                   net.hint.strength, net.mode, net.guidance)
            extra.update(style.extra)
            for kind, values in zip(style.residuals(control.network), lists, strict=True):
                if not values:
                    continue
                values = [self._place(v, net, style.patch, dtype) for v in values]
                key = (kind, len(values))
                have = groups.get(key)
                groups[key] = values if have is None else [a + b for a, b in
                                                           zip(have, values, strict=True)]
        if not groups:
            return inputs
        result = {**inputs, **extra}
        names = {kind.name for kind, _ in groups}
        for name in names:
            mine = [(kind, values) for (kind, _), values in groups.items() if kind.name == name]
            if len(mine) == 1 and not mine[0][0].repeat:
                result[name] = mine[0][1]
                continue
            blocks = len(getattr(transformer, mine[0][0].blocks))
            spread: list[torch.Tensor] | None = None
            for kind, values in mine:
                full = [values[kind.index(i, blocks, len(values))] for i in range(blocks)]
                spread = full if spread is None else [a + b for a, b in zip(spread, full,
                                                                            strict=True)]
            result[name] = spread
        return result

    def _place(self, value: torch.Tensor, net: _Net, patch: int,
               dtype: torch.dtype) -> torch.Tensor:
        """A residual [rows, tokens, dim] masked per token, padded to the whole batch."""
        mask = net.hint.mask
        if mask is not None:
            m = mask.to(device=value.device, dtype=torch.float32)
            while m.dim() < 4:
                m = m.unsqueeze(0 if m.dim() < 3 else 1)
            h, w = (-(-side // patch) for side in self.latent)
            m = F.interpolate(m[:, :1], size=(h, w), mode="bilinear", align_corners=False)
            value = value * m.clamp(0, 1).flatten(1).unsqueeze(-1).to(value.dtype)
        value = value.to(dtype)
        if value.shape[0] == self.rows:
            return value
        full = torch.zeros((self.rows, *value.shape[1:]), dtype=value.dtype, device=value.device)
        full[net.rows] = value
        return full


def _pixels(image: torch.Tensor, batch: int, height: int, width: int,
            device: torch.device) -> torch.Tensor:
    pixels = image.detach().to(torch.float32).permute(0, 3, 1, 2).contiguous()
    if tuple(pixels.shape[-2:]) != (height, width):
        pixels = F.interpolate(pixels, size=(height, width))
    if pixels.shape[0] != batch:
        if pixels.shape[0] != 1:
            raise StudioError(f"The hint image batch ({pixels.shape[0]}) must be 1 or the "
                              f"latent batch ({batch}).")
        pixels = pixels.repeat(batch, 1, 1, 1)
    return pixels.to(device)


def _check(family: Any, hints: list[Any]) -> bool:
    """Whether the run's hints are transformer ControlNets; a hint the model's family does not
    take is refused with one line."""
    transformer = any(hint.control.kind in STYLES for hint in hints)
    if not (transformer or any(kind in STYLES for kind in family.control_kinds)):
        return False
    for hint in hints:
        kind = hint.control.kind
        if not family.accepts_control or kind not in family.control_kinds:
            takes = (" or ".join(KIND_LABELS.get(k, k) for k in family.control_kinds)
                     if family.accepts_control else "no ControlNets")
            raise StudioError(f"{hint.control.source}: a {KIND_LABELS.get(kind, kind)} does "
                              f"not fit a {family.label or family.id} model (it takes {takes})")
        if hint.guess_mode:
            raise StudioError(f"{hint.control.source}: guess mode is for SD/SDXL ControlNets")
    return True


def prepare_transformer_control(
    model: Any, positive: Any, negative: Any, x: torch.Tensor, cfg_batch: bool, total: int,
) -> TransformerControlRun | None:
    """The run of the transformer ControlNets, or None (no hints, or UNet ones).

    Raises:
        StudioError: a ControlNet the model's family does not take, a missing VAE or Union
            type, or a hint batch that fits neither 1 nor the latent batch.
    """
    from pipelines.families import get_family

    sides = [(positive, 1)] + ([(negative, 0)] if cfg_batch and negative is not None else [])
    where: dict[int, tuple[Any, set[int]]] = {}
    for cond, half in sides:
        for hint in cond.control:
            where.setdefault(id(hint), (hint, set()))[1].add(half)
    family = get_family(getattr(model, "family", "unknown"))
    if not where or not _check(family, [hint for hint, _ in where.values()]):
        return None  # UNet ControlNets / T2I-Adapters: control.py's path
    batch, halves = x.shape[0], 2 if cfg_batch else 1
    height, width = x.shape[2] * model.vae_scale_factor, x.shape[3] * model.vae_scale_factor
    conds = [cond for cond, _ in sorted(sides, key=lambda side: side[1])]
    nets = []
    for hint, used in where.values():
        if halves == 1 or len(used) == 2:
            rows, count, mine = slice(0, halves * batch), halves, conds
        else:
            half = next(iter(used))
            rows, count, mine = slice(half * batch, (half + 1) * batch), 1, [conds[half]]
        control = hint.control
        if needs_vae(control) and hint.vae is None:
            raise StudioError(f"{control.source}: this ControlNet reads its hint as latents: "
                              "connect the model's VAE to Apply ControlNet's vae input")
        network = control.network
        dtype = next(network.parameters()).dtype
        pixels = _pixels(hint.image, batch, height, width, x.device)
        with torch.no_grad():
            cond = STYLES[control.kind].hint(network, pixels, hint.vae).to(dtype)
        cond = torch.cat([cond] * count) if count > 1 else cond
        mode = None
        if union_modes(control):
            if control.union_type is None:
                raise StudioError(f"{control.source}: a ControlNet-Union needs to know what its "
                                  "hint is: put a Set Union ControlNet Type node between Load "
                                  "ControlNet and Apply ControlNet")
            mode = torch.full((batch * count, 1), control.union_type, dtype=torch.long,
                              device=x.device)
        guidance = flux_guidance(mine, batch).to(x.device) if control.kind == "flux_controlnet" \
            else None
        nets.append(_Net(hint, rows, cond, mode, guidance))
    return TransformerControlRun(nets, model, halves * batch, total, (x.shape[2], x.shape[3]))
