"""SD3/3.5 and Flux ControlNets from single files, as they exist in the wild (read with
``pipelines.loading.controlnet``'s safe readers, converted offline, sizes read off the
tensors; nothing from the file runs).

The detection table (``transformer_controlnet_layouts.LAYOUTS``, torch-free, as ComfyUI's
``load_controlnet_state_dict`` tells them apart) names each layout's kind (``ControlNet.kind``)
and the family it steers; the converters are here:

- ``xlabs``: XLabs' Flux ControlNets (``controlnet_blocks.*``, ``input_hint_block.*``, BFL
  ``double_blocks.*``) -> ``FluxControlNetModel`` with a pixel hint block;
- ``sd35``: Stability's SD3.5 large ControlNets (canny/depth/blur: ``transformer_blocks.N.attn.qkv``,
  ``adaLN_modulation``, ``control_type``) -> ``SD3ControlNetModel`` without its own patch
  embedding, as diffusers' ``convert_sd3_controlnet_to_diffusers.py``; the ``control_type``
  is kept (``network.studio_control_type``): a canny net reads its hint scaled as in
  Stability's reference code;
- ``sd3``: diffusers-layout ``SD3ControlNetModel`` files (InstantX's SD3 nets);
- ``flux``: diffusers-layout ``FluxControlNetModel`` files (InstantX / Shakker-Labs, Union too).

A ``config.json`` (or ``<stem>.json``) of the same class beside the file wins over the shapes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.transformer_controlnet_layouts import CLASSES, find_layout
from pipelines.values import ControlNet

HINT = ("Pick an SD3 or Flux ControlNet: a diffusers folder (config.json) or a single "
        ".safetensors file (InstantX, Shakker-Labs, XLabs, Stability SD3.5).")


def _error(path: Path, message: str) -> ModelLoadError:
    return ModelLoadError(path, message, hint=HINT)


def _count(state: dict[str, Any], prefix: str) -> int:
    found = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
    return max(found) + 1 if found else 0


# --- SD3 -----------------------------------------------------------------------------------
def sd3_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """An ``SD3ControlNetModel`` config from diffusers-layout tensors."""
    inner, hint_in, patch = (int(n) for n in state["pos_embed_input.proj.weight"].shape[:3])
    own_pos = "pos_embed.proj.weight" in state
    in_channels = int(state["pos_embed.proj.weight"].shape[1]) if own_pos else 16
    norm = state.get("transformer_blocks.0.attn.norm_q.weight")
    head = int(norm.shape[0]) if norm is not None else 64
    context = state.get("context_embedder.weight")
    grid = state.get("pos_embed.pos_embed")
    layers = _count(state, "transformer_blocks.")
    return {
        "sample_size": 128, "patch_size": patch, "in_channels": in_channels,
        "num_layers": layers, "attention_head_dim": head, "num_attention_heads": inner // head,
        "joint_attention_dim": None if context is None else int(context.shape[1]),
        "caption_projection_dim": inner if context is None else int(context.shape[0]),
        "pooled_projection_dim": int(
            state["time_text_embed.text_embedder.linear_1.weight"].shape[1]),
        "out_channels": in_channels,
        "pos_embed_max_size": None if grid is None else math.isqrt(int(grid.shape[1])),
        "extra_conditioning_channels": hint_in - in_channels,
        "dual_attention_layers": tuple(i for i in range(layers)
                                       if f"transformer_blocks.{i}.attn2.to_q.weight" in state),
        "qk_norm": "rms_norm" if norm is not None else None,
        "pos_embed_type": "sincos" if own_pos else None, "use_pos_embed": own_pos,
    }


_SD35 = {"attn.proj": "attn.to_out.0", "mlp.fc1": "ff.net.0.proj", "mlp.fc2": "ff.net.2",
         "adaLN_modulation.1": "norm1.linear"}


def sd35_to_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stability's SD3.5 ControlNet names -> diffusers' (fused qkv split); other keys kept."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.startswith("transformer_blocks."):
            out[key] = value
            continue
        block, rest = key.split(".", 2)[1], key.split(".", 2)[2]
        base = f"transformer_blocks.{block}."
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]
            for name, part in zip(("to_q", "to_k", "to_v"), value.chunk(3, dim=0), strict=True):
                out[f"{base}attn.{name}.{kind}"] = part
            continue
        stem, kind = rest.rsplit(".", 1)
        out[base + f"{_SD35.get(stem, stem)}.{kind}"] = value
    return out


# --- Flux ----------------------------------------------------------------------------------
def flux_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A ``FluxControlNetModel`` config from diffusers-layout tensors."""
    from pipelines.loading.flux_convert import axes_for

    inner, in_channels = (int(n) for n in state["x_embedder.weight"].shape)
    head = int(state["transformer_blocks.0.attn.norm_q.weight"].shape[0])
    modes = state.get("controlnet_mode_embedder.weight")
    hint_out = state.get("input_hint_block.conv_out.weight")
    patch = 1
    if hint_out is not None:  # its tokens carry patch x patch hint pixels of all channels
        patch = math.isqrt(int(state["controlnet_x_embedder.weight"].shape[1])
                           // int(hint_out.shape[0]))
    return {
        "patch_size": patch, "in_channels": in_channels,
        "num_layers": _count(state, "transformer_blocks."),
        "num_single_layers": _count(state, "single_transformer_blocks."),
        "attention_head_dim": head, "num_attention_heads": inner // head,
        "joint_attention_dim": int(state["context_embedder.weight"].shape[1]),
        "pooled_projection_dim": int(
            state["time_text_embed.text_embedder.linear_1.weight"].shape[1]),
        "guidance_embeds": "time_text_embed.guidance_embedder.linear_1.weight" in state,
        "axes_dims_rope": axes_for(head),
        "num_mode": None if modes is None else int(modes.shape[0]),
        "conditioning_embedding_channels": None if hint_out is None else int(hint_out.shape[0]),
    }


def xlabs_to_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """XLabs' Flux ControlNet (BFL names, an 8-convolution hint block) -> diffusers'."""
    from pipelines.loading.flux_convert import bfl_to_diffusers

    state = dict(state)
    hint = {k: state.pop(k) for k in list(state) if k.startswith("input_hint_block.")}
    last = max(int(k.split(".")[1]) for k in hint) if hint else -1
    out: dict[str, torch.Tensor] = {}
    for key, value in hint.items():
        index, kind = int(key.split(".")[1]), key.rsplit(".", 1)[1]
        name = ("conv_in" if index == 0 else "conv_out" if index == last
                else f"blocks.{index // 2 - 1}")
        out[f"input_hint_block.{name}.{kind}"] = value
    for kind in ("weight", "bias"):
        if f"pos_embed_input.{kind}" in state:
            out[f"controlnet_x_embedder.{kind}"] = state.pop(f"pos_embed_input.{kind}")
    controls = {k: state.pop(k) for k in list(state) if k.startswith("controlnet_blocks.")}
    # the BFL converter wants the final norm the ControlNet has not: a stand-in, dropped again
    stand_in = {f"final_layer.adaLN_modulation.1.{k}": torch.zeros(2) for k in ("weight", "bias")}
    body = bfl_to_diffusers({**state, **stand_in})
    out.update({k: v for k, v in body.items() if not k.startswith("norm_out.")})
    out.update(controls)
    return out


def _build(cls_name: str, config: dict[str, Any], state: dict[str, torch.Tensor], path: Path,
           dtype: torch.dtype) -> ControlNet:
    import diffusers

    config = {k: v for k, v in config.items() if not k.startswith("_")}
    try:
        network = getattr(diffusers, cls_name).from_config(config)
        network.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _error(path, f"The weights do not fit the {cls_name} read from the file "
                           f"({first[:200]}).") from None
    return ControlNet(network.to(dtype), CLASSES[cls_name], str(path))


def load_transformer_controlnet(state: dict[str, torch.Tensor], path: Path, dtype: torch.dtype,
                                beside: dict[str, Any] | None = None) -> ControlNet | None:
    """The SD3/Flux ControlNet in ``state``, or None when the keys are of no layout here.

    Raises:
        ModelLoadError: a layout we detect but cannot read; names the file.
    """
    layout = find_layout(state)
    if layout is None:
        return None
    if beside is not None and CLASSES.get(beside.get("_class_name", "")) != layout.kind:
        beside = None
    try:
        if layout.name == "mistoline":
            raise _error(path, "MistoLine's Flux ControlNet layout is not supported yet.")
        if layout.name == "xlabs":
            state = xlabs_to_diffusers(state)
        control_type = None
        if layout.name == "sd35":
            kind = state.get("control_type")  # 0 blur, 1 canny, 2 depth
            control_type = None if kind is None else round(float(kind.float().reshape(-1)[0]))
            state = sd35_to_diffusers({k: v for k, v in state.items() if k != "control_type"})
        if layout.kind == "flux_controlnet":
            config = beside or flux_config(state)
            return _build("FluxControlNetModel", config, state, path, dtype)
        config = beside or {**sd3_config(state),
                            # InstantX's SD3 nets force zero pooled projections, SD3.5's not
                            "force_zeros_for_pooled_projection": layout.name == "sd3"}
        control = _build("SD3ControlNetModel", config, state, path, dtype)
        # how the hint is fed (pipelines.sampling.transformer_control_calls), as an attribute
        # of the network like ``studio_compute_dtype``: the config has no field for it
        control.network.studio_control_type = control_type
        return control
    except (KeyError, ValueError) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise _error(path, f"An incomplete {layout.note} ({exc}).") from None
