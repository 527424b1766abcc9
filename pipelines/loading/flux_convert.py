"""Flux transformer weights between the original Black Forest Labs layout (``double_blocks.*``,
``single_blocks.*``, ``img_in``, ``txt_in``, ``time_in``, ``vector_in``, ``guidance_in``,
``final_layer``: the files ComfyUI's UNETLoader reads) and diffusers' ``FluxTransformer2DModel``.

diffusers' own single-file converter hard-codes FLUX.1's 3072 inner width; here every size is
read from the tensors, so any width (and the tiny test models) converts. The mapping is a
pure rename plus three splits (fused qkv, the single blocks' qkv+mlp ``linear1``) and the final
norm's (shift, scale) -> (scale, shift) swap.
"""

from __future__ import annotations

from typing import Any

import torch

PREFIXES = ("model.diffusion_model.", "diffusion_model.")
BFL_KEY = "double_blocks.0.img_attn.qkv.weight"
GUIDANCE_KEY = "guidance_in.in_layer.weight"

# one-to-one renames: BFL name -> diffusers name ({i}: the block index)
_TOP = {
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "txt_in": "context_embedder",
    "img_in": "x_embedder",
    "final_layer.linear": "proj_out",
}
_DOUBLE = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
}
_SINGLE = {
    "modulation.lin": "norm.linear",
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
    "linear2": "proj_out",
}
_QKV = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
        "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}
_SINGLE_SPLIT = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")
_NORM_OUT = ("final_layer.adaLN_modulation.1", "norm_out.linear")


def strip_prefix(state: dict[str, Any]) -> dict[str, Any]:
    """The transformer's tensors without a ComfyUI checkpoint prefix."""
    for prefix in PREFIXES:
        if any(k.startswith(prefix + "double_blocks.") for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def is_bfl(keys: Any) -> bool:
    return any(k == BFL_KEY or k.endswith("." + BFL_KEY) for k in keys)


def _blocks(keys: Any, name: str) -> int:
    found = {int(k.split(".")[1]) for k in keys if k.startswith(name + ".")}
    return max(found) + 1 if found else 0


def _shape(value: Any) -> tuple[int, ...]:
    """A tensor's shape, or a header entry's (``{"shape": [...]}``)."""
    return tuple(value["shape"]) if isinstance(value, dict) else tuple(value.shape)


def axes_for(head_dim: int) -> list[int]:
    """Rotary axes (index, row, column) of a head width: FLUX.1's (16, 56, 56) for 128,
    the same proportions (1/8, then halves of the rest) for others.

    Raises:
        ValueError: a width whose parts are not even.
    """
    first = head_dim // 8
    rest = (head_dim - first) // 2
    if first % 2 or rest % 2 or first + 2 * rest != head_dim:
        raise ValueError(f"attention head width {head_dim} has no Flux rotary layout")
    return [first, rest, rest]


def bfl_config(state: dict[str, Any]) -> dict[str, Any]:
    """A ``FluxTransformer2DModel`` config from BFL-layout tensors (or header entries)."""
    inner, in_channels = _shape(state["img_in.weight"])
    head_dim = _shape(state["double_blocks.0.img_attn.norm.query_norm.scale"])[0]
    out = _shape(state["final_layer.linear.weight"])[0]
    return {
        "_class_name": "FluxTransformer2DModel",
        "patch_size": 1,
        "in_channels": in_channels,
        "out_channels": None if out == in_channels else out,
        "num_layers": _blocks(state, "double_blocks"),
        "num_single_layers": _blocks(state, "single_blocks"),
        "attention_head_dim": head_dim,
        "num_attention_heads": inner // head_dim,
        "joint_attention_dim": _shape(state["txt_in.weight"])[1],
        "pooled_projection_dim": _shape(state["vector_in.in_layer.weight"])[1],
        "guidance_embeds": GUIDANCE_KEY in state,
        "axes_dims_rope": axes_for(head_dim),
    }


def _swap(weight: torch.Tensor) -> torch.Tensor:
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def bfl_to_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BFL-layout tensors (prefix stripped) -> diffusers names; unknown keys are kept as they
    are, so loading reports them.

    Raises:
        KeyError: a tensor the layout needs is missing.
    """
    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    inner = state["img_in.weight"].shape[0]
    for kind in ("weight", "bias"):
        for old, new in _TOP.items():
            if f"{old}.{kind}" in state:
                out[f"{new}.{kind}"] = state.pop(f"{old}.{kind}")
        out[f"{_NORM_OUT[1]}.{kind}"] = _swap(state.pop(f"{_NORM_OUT[0]}.{kind}"))
    for i in range(_blocks(state, "double_blocks")):
        src, dst = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for old, names in _QKV.items():
            for kind in ("weight", "bias"):
                for name, part in zip(names, state.pop(f"{src}{old}.{kind}").chunk(3, dim=0),
                                      strict=True):
                    out[f"{dst}{name}.{kind}"] = part
        _rename(state, out, src, dst, _DOUBLE)
    for i in range(_blocks(state, "single_blocks")):
        src, dst = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for kind in ("weight", "bias"):
            fused = state.pop(f"{src}linear1.{kind}")
            sizes = (inner, inner, inner, fused.shape[0] - 3 * inner)
            for name, part in zip(_SINGLE_SPLIT, fused.split(sizes, dim=0), strict=True):
                out[f"{dst}{name}.{kind}"] = part
        _rename(state, out, src, dst, _SINGLE)
    out.update(state)  # leftovers: reported by the loader as unexpected
    return out


def _rename(state: dict[str, torch.Tensor], out: dict[str, torch.Tensor], src: str, dst: str,
            table: dict[str, str]) -> None:
    for old, new in table.items():
        if old.endswith(".scale") or new.endswith(".scale"):  # RMSNorm scales: no bias
            out[dst + new] = state.pop(src + old)
            continue
        for kind in ("weight", "bias"):
            out[f"{dst}{new}.{kind}"] = state.pop(f"{src}{old}.{kind}")


def diffusers_to_bfl(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``bfl_to_diffusers`` (writes the files users have, for tests/export)."""
    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    for kind in ("weight", "bias"):
        for old, new in _TOP.items():
            if f"{new}.{kind}" in state:
                out[f"{old}.{kind}"] = state.pop(f"{new}.{kind}")
        out[f"{_NORM_OUT[0]}.{kind}"] = _swap(state.pop(f"{_NORM_OUT[1]}.{kind}"))
    for i in range(_blocks(state, "transformer_blocks")):
        src, dst = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for old, names in _QKV.items():
            for kind in ("weight", "bias"):
                out[f"{dst}{old}.{kind}"] = torch.cat([state.pop(f"{src}{n}.{kind}")
                                                       for n in names])
        _rename(state, out, src, dst, {v: k for k, v in _DOUBLE.items()})
    for i in range(_blocks(state, "single_transformer_blocks")):
        src, dst = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}linear1.{kind}"] = torch.cat([state.pop(f"{src}{n}.{kind}")
                                                    for n in _SINGLE_SPLIT])
        _rename(state, out, src, dst, {v: k for k, v in _SINGLE.items()})
    out.update(state)
    return out
