"""Original (ldm, ``control_model.*``) ControlNet keys -> diffusers' ``ControlNetModel`` keys.

Our own map rather than diffusers' ``convert_controlnet_checkpoint``, which assumes SD's hint
block of 8 convolutions (``input_hint_block.14`` is its last) and drops SDXL's ``label_emb``.
"""

from __future__ import annotations

from typing import Any

import torch

PREFIX = "control_model."
_RESNET = (("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
           ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"),
           ("skip_connection", "conv_shortcut"))
_FIXED = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
          "label_emb.0.0": "add_embedding.linear_1", "label_emb.0.2": "add_embedding.linear_2",
          "input_blocks.0.0": "conv_in", "middle_block_out.0": "controlnet_mid_block",
          "input_hint_block.0": "controlnet_cond_embedding.conv_in"}


def strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ControlNet's own keys: ``control_model.*`` without the prefix (or all keys when no
    key has it, as files saved from the module itself)."""
    if any(k.startswith(PREFIX) for k in state):
        return {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
    return dict(state)


def layers_per_block(state: dict[str, torch.Tensor]) -> int:
    """Resnets per down block: the first downsampler sits at ``input_blocks.{layers + 1}``."""
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("input_blocks.")})
    for index in blocks:
        if f"input_blocks.{index}.0.op.weight" in state:
            return index - 1
    return max(len(blocks) - 1, 1)


def _resnet(rest: str) -> str:
    for old, new in _RESNET:
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    return rest


def _key(key: str, per_block: int, hint_last: int) -> str | None:
    parts = key.split(".")
    for old, new in _FIXED.items():
        if key.startswith(old + ".") and key.count(".") == old.count(".") + 1:
            return new + key[len(old):]
    if parts[0] == "input_blocks":
        i = int(parts[1])
        block, j = (i - 1) // (per_block + 1), (i - 1) % (per_block + 1)
        rest = ".".join(parts[3:])
        if parts[2] == "0" and parts[3] == "op":
            return f"down_blocks.{block}.downsamplers.0.conv.{parts[4]}"
        if parts[2] == "0":
            return f"down_blocks.{block}.resnets.{j}.{_resnet(rest)}"
        return f"down_blocks.{block}.attentions.{j}.{rest}"
    if parts[0] == "middle_block":
        rest = ".".join(parts[2:])
        if parts[1] == "1":
            return f"mid_block.attentions.0.{rest}"
        return f"mid_block.resnets.{int(parts[1]) // 2}.{_resnet(rest)}"
    if parts[0] == "zero_convs":
        return f"controlnet_down_blocks.{parts[1]}.{parts[3]}"
    if parts[0] == "input_hint_block":
        index = int(parts[1])
        if index == hint_last:
            return f"controlnet_cond_embedding.conv_out.{parts[2]}"
        return f"controlnet_cond_embedding.blocks.{index // 2 - 1}.{parts[2]}"
    return None


def to_diffusers(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict in diffusers' layout, and the keys that have no place there."""
    state = strip_prefix(state)
    per_block = layers_per_block(state)
    hint = [int(k.split(".")[1]) for k in state if k.startswith("input_hint_block.")]
    hint_last = max(hint) if hint else -1
    out, unknown = {}, []
    for key, value in state.items():
        new = _key(key, per_block, hint_last)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return out, unknown


def union_config(config: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A ``ControlNetUnionModel`` config: a plain ControlNet's (read off the shapes) plus the
    union layers' sizes (xinsir's ControlNet++: task embeddings, a small transformer, the
    control-type embedding). Its middle block always has attention; its heads are not stored
    in the weights (diffusers' default, 8)."""
    config = {k: v for k, v in config.items() if k != "mid_block_type"}
    task = state["task_embedding"]
    kinds = int(task.shape[0])
    layers = {k.split(".")[1] for k in state if k.startswith("transformer_layes.")}
    add_in = int(state["control_add_embedding.linear_1.weight"].shape[1])
    config.update(num_control_type=kinds, num_trans_channel=int(task.shape[1]),
                  num_trans_layer=max(1, len(layers)), addition_time_embed_dim=add_in // kinds,
                  num_proj_channel=int(state["spatial_ch_projs.weight"].shape[0]))
    return config
