"""Model merging, with ComfyUI's arithmetic (``comfy_extras/nodes_model_merging.py``): every
weight of the first model becomes ``a * w1 + b * w2`` with the second model's weight of the
same name (weighted: ``ratio * w1 + (1 - ratio) * w2``; add: ``w1 + w2``; subtract:
``m * w1 - m * w2``), per block when ratios are given by block name.

The merged network is a structural copy: new module objects holding the new weights, so the
cached inputs are never changed. Weights the second model lacks, or has in another shape, stay
the first model's (ComfyUI skips them the same way); buffers (position ids) stay the first's.
Block names are the original (ComfyUI / SGM) layer names, ``input_blocks.4.`` / ``middle_block.``
/ ``output_blocks.`` / ``out.``, longest matching prefix first.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import torch

from pipelines.catalog import MERGE_MODES as MODES
from pipelines.errors import StudioError
from pipelines.structural_copy import shared_copy
from pipelines.values import DiffusionModel, TextEncoder

log = logging.getLogger(__name__)
Scales = Callable[[str], tuple[float, float]]


def scales(mode: str, ratio: float) -> tuple[float, float]:
    """(scale of model 1, scale of model 2) of one of ``MODES``."""
    if mode == "weighted":
        return ratio, 1.0 - ratio
    if mode == "add":
        return 1.0, 1.0
    if mode == "subtract":
        return ratio, -ratio
    raise StudioError(f"unknown merge mode {mode!r}; choose {', '.join(MODES)}")


def merge_networks(first: torch.nn.Module, second: torch.nn.Module, scale_of: Scales
                   ) -> tuple[torch.nn.Module, int]:
    """A copy of ``first`` whose parameters are merged with ``second``'s (``scale_of(name)``
    gives both scales), and how many were merged."""
    from pipelines.loading.gguf_model import dequantized, is_quantized

    others = dict(second.named_parameters())
    merged = shared_copy(first)
    count = 0
    for name, weight in list(merged.named_parameters()):
        other = others.get(name)
        a, b = scale_of(name)
        if other is None or (a == 1.0 and b == 0.0):
            continue
        dtype = torch.float32 if is_quantized(weight) else weight.dtype
        w1, w2 = dequantized(weight, torch.float32), dequantized(other, torch.float32)
        if w1.shape != w2.shape:
            log.warning("merge: %s has shape %s in the second model, %s in the first; kept",
                        name, tuple(w2.shape), tuple(w1.shape))
            continue
        value = (a * w1 + b * w2.to(w1.device)).to(dtype)
        module_name, _, attr = name.rpartition(".")
        module = merged.get_submodule(module_name) if module_name else merged
        module._parameters[attr] = torch.nn.Parameter(value, requires_grad=False)
        count += 1
    return merged, count


def _same_family(first: str, second: str, what: str) -> None:
    if first != second:
        raise StudioError(f"cannot merge {what}s of different families ({first} and {second}): "
                          "their weights do not correspond")


def merge_models(first: DiffusionModel, second: DiffusionModel, scale_of: Scales
                 ) -> DiffusionModel:
    """``first`` with its denoiser merged with ``second``'s."""
    _same_family(first.family, second.family, "model")
    denoiser, count = merge_networks(first.denoiser, second.denoiser, scale_of)
    if not count and any(scale_of(n) != (1.0, 0.0) for n, _ in first.denoiser.named_parameters()):
        raise StudioError("the two models share no weight of the same name and shape")
    return dataclasses.replace(first, denoiser=denoiser,
                               source=f"{first.source} + {second.source}")


def merge_text_encoders(first: TextEncoder, second: TextEncoder, scale_of: Scales
                        ) -> TextEncoder:
    """``first`` with each of its text encoders merged with ``second``'s of the same slot."""
    _same_family(first.family, second.family, "text encoder")
    changes: dict[str, Any] = {}
    for slot in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        mine, theirs = getattr(first, slot, None), getattr(second, slot, None)
        if mine is not None and theirs is not None:
            changes[slot] = merge_networks(mine, theirs, scale_of)[0]
    return dataclasses.replace(first, **changes)


def block_scales(names: dict[str, str], ratios: dict[str, float], default: float
                 ) -> Scales:
    """Weighted-merge scales by block: a parameter's original name (``names``: ours ->
    original, without the ``.weight``/``.bias`` split) takes the ratio of the longest block
    prefix it starts with, else ``default``."""
    ordered = sorted(ratios.items(), key=lambda item: -len(item[0]))

    def scale_of(name: str) -> tuple[float, float]:
        original = names.get(name, name)
        ratio = next((r for prefix, r in ordered if original.startswith(prefix)), default)
        return ratio, 1.0 - ratio

    return scale_of


def unet_block_names(denoiser: torch.nn.Module) -> dict[str, str]:
    """Our UNet parameter names -> the original (SGM) names that block ratios use.

    Raises:
        StudioError: the denoiser is not a UNet with an original layout (SD3/Flux: use the
            plain merge).
    """
    from pipelines.loading.convert import UNET_PREFIX, unet_to_original

    keys = {name: torch.empty(0) for name, _ in denoiser.named_parameters()}
    try:
        original = unet_to_original(keys, dict(getattr(denoiser, "config", {})))
    except (ValueError, KeyError, AttributeError, TypeError):
        raise StudioError("merging by block needs a UNet model (SD1.x, SD2.x, SDXL); for "
                          "this model use Merge Models") from None
    return {ours: new[len(UNET_PREFIX):] for ours, new in zip(keys, original, strict=True)}


def parse_block_ratios(text: str) -> dict[str, float]:
    """``"input_blocks.4.=0.3, out.=1"`` -> ``{"input_blocks.4.": 0.3, "out.": 1.0}``.

    Raises:
        StudioError: an entry that is not ``name=number``.
    """
    ratios: dict[str, float] = {}
    for entry in text.replace(";", ",").replace("\n", ",").split(","):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            ratios[name.strip()] = float(value)
        except ValueError:
            raise StudioError(f"block ratio {entry.strip()!r} is not name=number "
                              "(e.g. input_blocks.4.=0.5)") from None
    return ratios
