"""LoRA: low-rank weight deltas applied to patched copies, never to the cached base model.

Key layouts read: kohya (``lora_unet_*``, ``lora_te_*``/``lora_te1_*``/``lora_te2_*`` with
``lora_down``/``lora_up``/``alpha``; UNet names in diffusers or original SD/SGM form) and
diffusers/PEFT (``unet.<module>.lora_A.weight``/``lora_B.weight``, ``text_encoder.*``,
``text_encoder_2.*``). ``apply_lora`` returns new ``DiffusionModel``/``TextEncoder`` objects
whose networks share every untouched submodule with the base and own fresh copies of the
patched layers, so dropping the LoRA gives back the base model exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.types import DiffusionModel, TextEncoder

log = logging.getLogger(__name__)
_KOHYA = re.compile(r"^(lora_unet|lora_te1|lora_te2|lora_te)_(.+?)\.(lora_down|lora_up|alpha)(\.weight)?$")
_PEFT = re.compile(r"^(?:(unet|text_encoder|text_encoder_2)\.)?(.+?)\.(lora_A|lora_B|alpha)(\.weight)?$")
_PARTS = {"lora_unet": "unet", "lora_te": "text_encoder", "lora_te1": "text_encoder",
          "lora_te2": "text_encoder_2"}


def read_lora(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a LoRA file (.safetensors, or a weights-only pickle)."""
    from pipelines.single_file import read_state_dict

    state, _ = read_state_dict(path)
    if not any("lora" in k for k in state):
        raise ModelLoadError(path, "Not a LoRA: it has no lora_down/lora_up or lora_A/lora_B "
                             "tensors.", hint="Pick a file from the loras folder.")
    return state


def _pairs(state: dict[str, torch.Tensor]) -> dict[tuple[str, str], dict[str, torch.Tensor]]:
    """(part, layer name) -> {"down", "up", "alpha"}; the name is as the file spells it."""
    found: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if match := _KOHYA.match(key):
            part, name, kind = _PARTS[match.group(1)], match.group(2), match.group(3)
        elif match := _PEFT.match(key):
            part, name, kind = match.group(1) or "unet", match.group(2), match.group(3)
        else:
            continue
        role = {"lora_down": "down", "lora_A": "down", "lora_up": "up", "lora_B": "up"}.get(kind, "alpha")
        found.setdefault((part, name), {})[role] = value
    return found


def _lookup(part: str, net: Any) -> dict[str, str]:
    """Every spelling of a patchable layer's name -> its module path in ``net``."""
    names: dict[str, str] = {}
    for path, module in net.named_modules():
        if not isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            continue
        spellings = {path}
        if part.startswith("text") and not path.startswith("text_model."):
            spellings.add("text_model." + path)
        for spelling in spellings:
            names[spelling] = names[spelling.replace(".", "_")] = path
    if part == "unet":  # kohya SDXL files name UNet layers the original (SGM) way
        from pipelines.convert import UNET_PREFIX, unet_to_original

        keys = {path + ".weight": torch.empty(0) for path in set(names.values())}
        try:
            original = unet_to_original(keys, dict(net.config))
        except (ValueError, KeyError):  # a UNet variant without an original layout
            return names
        for (key, _), new in zip(keys.items(), original, strict=True):
            layer = new[len(UNET_PREFIX):].removesuffix(".weight")
            names[layer] = names[layer.replace(".", "_")] = key.removesuffix(".weight")
    return names


def _delta(pair: dict[str, torch.Tensor], weight: torch.Tensor, strength: float) -> torch.Tensor:
    down, up = pair["down"].float(), pair["up"].float()
    rank = down.shape[0]
    scale = float(pair["alpha"]) / rank if "alpha" in pair else 1.0
    delta = (up.flatten(1) @ down.flatten(1)).reshape(weight.shape)
    return (delta * (scale * strength)).to(device=weight.device, dtype=weight.dtype)


def _patched_copy(net: Any, deltas: dict[str, torch.Tensor]) -> Any:
    """A shallow copy of ``net`` in which only the modules on the way to a patched layer are
    copied; each patched layer gets a new weight ``old + delta`` (the base is untouched)."""
    copies: dict[str, Any] = {}

    def fork(path: str, module: Any) -> Any:
        if path not in copies:
            clone = copy.copy(module)
            clone._modules = dict(module._modules)
            clone._parameters = dict(module._parameters)
            copies[path] = clone
        return copies[path]

    root = fork("", net)
    for path, delta in deltas.items():
        parent, prefix = root, ""
        for part in path.split("."):
            prefix = f"{prefix}.{part}" if prefix else part
            child = fork(prefix, parent._modules[part])
            parent._modules[part] = child
            parent = child
        weight = parent._parameters["weight"]
        parent._parameters["weight"] = torch.nn.Parameter(weight.detach() + delta, requires_grad=False)
    return root


def _patch(part: str, net: Any, pairs: dict, strength: float, source: str) -> tuple[Any, int]:
    if net is None or strength == 0:
        return net, 0
    names = _lookup(part, net)
    modules = dict(net.named_modules())
    deltas: dict[str, torch.Tensor] = {}
    for (owner, name), pair in pairs.items():
        path = names.get(name) if owner == part else None
        if path is None or "down" not in pair or "up" not in pair:
            continue
        weight = modules[path].weight
        delta = _delta(pair, weight, strength)
        deltas[path] = deltas[path] + delta if path in deltas else delta
    return (_patched_copy(net, deltas) if deltas else net), len(deltas)


def apply_lora(
    model: DiffusionModel, clip: TextEncoder, state: dict[str, torch.Tensor],
    strength_model: float = 1.0, strength_clip: float = 1.0, source: str = "LoRA",
) -> tuple[DiffusionModel, TextEncoder]:
    """Apply a LoRA to a model and its text encoder(s), returning patched copies.

    Args:
        model, clip: The base (never modified).
        state: LoRA tensors (``read_lora``).
        strength_model, strength_clip: Multipliers of the UNet / text-encoder deltas.
        source: Name of the LoRA for messages.

    Returns:
        ``(model, clip)``: the inputs themselves for parts with strength 0 or no matching layer.

    Raises:
        ModelLoadError: no layer of the LoRA matches this model (another family's LoRA).
    """
    pairs = _pairs(state)
    unet, n_unet = _patch("unet", model.unet, pairs, strength_model, source)
    te, n_te = _patch("text_encoder", clip.text_encoder, pairs, strength_clip, source)
    te2, n_te2 = _patch("text_encoder_2", clip.text_encoder_2, pairs, strength_clip, source)
    applied, wanted = n_unet + n_te + n_te2, len(pairs)
    strengths_on = (strength_model != 0 and any(p == "unet" for p, _ in pairs)) or (
        strength_clip != 0 and any(p != "unet" for p, _ in pairs))
    if applied == 0 and strengths_on:
        raise ModelLoadError(source, "None of its layers match this model (is it a LoRA for "
                             "another model family?).", hint="")
    if applied < wanted:
        log.info("%s: %d of %d LoRA layers applied", source, applied, wanted)
    new_model = model if unet is model.unet else dataclasses.replace(model, unet=unet)
    if te is clip.text_encoder and te2 is clip.text_encoder_2:
        return new_model, clip
    return new_model, dataclasses.replace(clip, text_encoder=te, text_encoder_2=te2)
