"""LoRA: low-rank weight deltas applied to patched copies, never to the cached base model.

Key layouts read: kohya (``lora_unet_*``, ``lora_te_*``/``lora_te1_*``/``lora_te2_*`` with
``lora_down``/``lora_up``/``alpha``; UNet names in diffusers or original SD/SGM form) and
diffusers/PEFT (``unet.<module>.lora_A.weight``/``lora_B.weight``, ``text_encoder.*``,
``text_encoder_2.*``). Besides plain LoRA (and LoCon, which is LoRA on conv layers), the
LyCORIS kinds in kohya naming: LoHa (``hada_w1_a``... Hadamard product of two low-rank
products, with optional Tucker cores ``hada_t1/t2``), LoKr (``lokr_w1``/``lokr_w2``, each whole
or as ``_a @ _b``; Kronecker product) and full deltas (``diff``). ``apply_lora`` returns new ``DiffusionModel``/``TextEncoder`` objects
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
from pipelines.loading.gguf_model import plain_weight
from pipelines.values import DiffusionModel, TextEncoder

log = logging.getLogger(__name__)
_KOHYA = re.compile(r"^(lora_unet|lora_te1|lora_te2|lora_te)_(.+?)\.(lora_down|lora_up|alpha|"
                    r"hada_w[12]_[ab]|hada_t[12]|lokr_w[12](?:_[ab])?|lokr_t2|diff|dora_scale)"
                    r"(\.weight)?$")
_PEFT = re.compile(r"^(?:(unet|transformer|text_encoder|text_encoder_2)\.)?(.+?)\."
                   r"(lora_A|lora_B|alpha)(\.weight)?$")
_PARTS = {"lora_unet": "unet", "lora_te": "text_encoder", "lora_te1": "text_encoder",
          "lora_te2": "text_encoder_2"}


def read_lora(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a LoRA file (.safetensors, or a weights-only pickle)."""
    from pipelines.loading.readers import read_state_dict

    state, _ = read_state_dict(path)
    if not any("lora" in k for k in state):
        raise ModelLoadError(path, "Not a LoRA: it has no lora_down/lora_up, lora_A/lora_B or "
                             "LyCORIS (hada_/lokr_) tensors.",
                             hint="Pick a file from the loras folder.")
    return state


def _pairs(state: dict[str, torch.Tensor]) -> dict[tuple[str, str], dict[str, torch.Tensor]]:
    """(part, layer name) -> {"down", "up", "alpha"}; the name is as the file spells it."""
    found: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if match := _KOHYA.match(key):
            part, name, kind = _PARTS[match.group(1)], match.group(2), match.group(3)
        elif match := _PEFT.match(key):
            part, name, kind = match.group(1) or "unet", match.group(2), match.group(3)
            part = "unet" if part == "transformer" else part  # the denoiser, by either name
        else:
            continue
        role = {"lora_down": "down", "lora_A": "down", "lora_up": "up", "lora_B": "up"}.get(kind, kind)
        found.setdefault((part, name), {})[role] = value
    return found


def _lookup(part: str, net: Any) -> dict[str, str]:
    """Every spelling of a patchable layer's name -> its module path in ``net``."""
    names: dict[str, str] = {}
    for path, module in net.named_modules():
        if not isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            continue
        spellings = {path}
        if path.endswith(".projection"):  # a key/value projection a hypernetwork wraps
            spellings.add(path.removesuffix(".projection"))
        if part.startswith("text") and not path.startswith("text_model."):
            spellings.add("text_model." + path)
        for spelling in spellings:
            names[spelling] = names[spelling.replace(".", "_")] = path
    if part == "unet" and hasattr(net, "down_blocks"):  # kohya SDXL: original (SGM) names
        from pipelines.loading.convert import UNET_PREFIX, unet_to_original

        keys = {path + ".weight": torch.empty(0) for path in set(names.values())}
        try:
            original = unet_to_original(keys, dict(net.config))
        except (ValueError, KeyError):  # a UNet variant without an original layout
            return names
        for (key, _), new in zip(keys.items(), original, strict=True):
            layer = new[len(UNET_PREFIX):].removesuffix(".weight")
            names[layer] = names[layer.replace(".", "_")] = key.removesuffix(".weight")
    return names


def _scale(pair: dict[str, torch.Tensor], rank: int | None) -> float:
    """LoRA-style ``alpha / rank``; 1 without an alpha (or a rank, for whole LoKr factors)."""
    return float(pair["alpha"]) / rank if "alpha" in pair and rank else 1.0


def _tucker(core: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A conv kernel from a Tucker core [r, r, k, k] and its factors a [out, r], b [r, in]."""
    return torch.einsum("i j k l, j r, i p -> p r k l", core.float(), b.float(), a.float())


def _loha(pair: dict[str, torch.Tensor], shape: torch.Size) -> tuple[torch.Tensor, float]:
    halves = []
    for n in ("1", "2"):
        a, b = pair[f"hada_w{n}_a"].float(), pair[f"hada_w{n}_b"].float()
        core = pair.get(f"hada_t{n}")
        half = _tucker(core, a, b) if core is not None else a @ b.flatten(1)
        if half.numel() != shape.numel():
            raise ValueError("LoHa factors do not fit the layer")
        halves.append(half.reshape(shape))
    return halves[0] * halves[1], _scale(pair, pair["hada_w1_b"].shape[0])


def _lokr(pair: dict[str, torch.Tensor], shape: torch.Size) -> tuple[torch.Tensor, float]:
    rank = None
    factors = []
    for n in ("1", "2"):
        if f"lokr_w{n}" in pair:
            factors.append(pair[f"lokr_w{n}"].float())
            continue
        a, b = pair[f"lokr_w{n}_a"].float(), pair[f"lokr_w{n}_b"].float()
        rank = b.shape[0]
        core = pair.get("lokr_t2") if n == "2" else None
        factors.append(_tucker(core, a, b) if core is not None else a @ b.flatten(1))
    w1, w2 = factors
    if len(shape) == 4:  # conv: the kernel lives in w2; w2 may still be flattened
        w1 = w1.reshape(*w1.shape[:2], 1, 1)
        if w2.dim() == 2:
            w2 = w2.reshape(w2.shape[0], -1, *shape[2:])
    # kron needs contiguous factors; a Tucker product comes out of einsum as a strided view
    return torch.kron(w1.contiguous(), w2.contiguous()), _scale(pair, rank)


def _delta(pair: dict[str, torch.Tensor], weight: torch.Tensor, strength: float
           ) -> torch.Tensor | None:
    """The weight delta a layer's tensors describe, or None when they describe none we know."""
    if "down" in pair and "up" in pair:
        down, up = pair["down"].float(), pair["up"].float()
        delta, scale = up.flatten(1) @ down.flatten(1), _scale(pair, down.shape[0])
    elif all(f"hada_w{n}_{p}" in pair for n in "12" for p in "ab"):
        try:
            delta, scale = _loha(pair, weight.shape)
        except ValueError:
            return None
    elif any(k.startswith("lokr_w1") for k in pair) and any(k.startswith("lokr_w2") for k in pair):
        try:
            delta, scale = _lokr(pair, weight.shape)
        except (RuntimeError, ValueError):  # factors that do not fit the layer
            return None
    elif "diff" in pair:
        delta, scale = pair["diff"].float(), 1.0
    else:
        return None
    if delta.numel() != weight.numel():
        return None
    delta = delta.reshape(weight.shape) * (scale * strength)
    return delta.to(device=weight.device, dtype=weight.dtype)


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
        weight = plain_weight(parent).detach()  # a GGUF layer's blocks dequantized
        parent._parameters["weight"] = torch.nn.Parameter(weight + delta, requires_grad=False)
    return root


def _patch(part: str, net: Any, pairs: dict, strength: float, source: str) -> tuple[Any, int]:
    if net is None or strength == 0:
        return net, 0
    names = _lookup(part, net)
    modules = dict(net.named_modules())
    deltas: dict[str, torch.Tensor] = {}
    for (owner, name), pair in pairs.items():
        path = names.get(name) if owner == part else None
        if path is None:
            continue
        if "dora_scale" in pair:  # DoRA renormalises the weight; applying the delta alone is wrong
            log.warning("%s: skipping DoRA layer %s (DoRA is not supported)", source, name)
            continue
        delta = _delta(pair, plain_weight(modules[path]), strength)
        if delta is None:
            log.warning("%s: layer %s has tensors of an unknown kind or shape", source, name)
            continue
        deltas[path] = deltas[path] + delta if path in deltas else delta
    return (_patched_copy(net, deltas) if deltas else net), len(deltas)


def apply_lora(
    model: DiffusionModel, clip: TextEncoder | None, state: dict[str, torch.Tensor],
    strength_model: float = 1.0, strength_clip: float = 1.0, source: str = "LoRA",
) -> tuple[DiffusionModel, TextEncoder | None]:
    """Apply a LoRA to a model and its text encoder(s), returning patched copies.

    Args:
        model, clip: The base (never modified); without a ``clip`` only the model is
            patched (ComfyUI's LoraLoaderModelOnly) and None comes back for it.
        state: LoRA tensors (``read_lora``).
        strength_model, strength_clip: Multipliers of the UNet / text-encoder deltas.
        source: Name of the LoRA for messages.

    Returns:
        ``(model, clip)``: the inputs themselves for parts with strength 0 or no matching layer.

    Raises:
        ModelLoadError: no layer of the LoRA matches this model (another family's LoRA).
    """
    from pipelines.families import get_family

    pairs = _pairs(get_family(model.family).lora_state(state, source))
    unet, n_unet = _patch("unet", model.denoiser, pairs, strength_model, source)
    if clip is None:
        strength_clip = 0.0
    te, n_te = _patch("text_encoder", clip and clip.text_encoder, pairs, strength_clip, source)
    te2, n_te2 = _patch("text_encoder_2", clip and clip.text_encoder_2, pairs, strength_clip,
                        source)
    applied, wanted = n_unet + n_te + n_te2, len(pairs)
    strengths_on = (strength_model != 0 and any(p == "unet" for p, _ in pairs)) or (
        strength_clip != 0 and any(p != "unet" for p, _ in pairs))
    if applied == 0 and strengths_on:
        raise ModelLoadError(source, "None of its layers match this model (is it a LoRA for "
                             "another model family?).", hint="")
    if applied < wanted:
        log.info("%s: %d of %d LoRA layers applied", source, applied, wanted)
    new_model = model if unet is model.denoiser else dataclasses.replace(model, denoiser=unet)
    if clip is None or (te is clip.text_encoder and te2 is clip.text_encoder_2):
        return new_model, clip
    return new_model, dataclasses.replace(clip, text_encoder=te, text_encoder_2=te2)
