"""SD3/SD3.5 LoRA files in the layouts other than diffusers/PEFT, turned into names our LoRA path
applies (diffusers has no converter for them):

- sd-scripts (kohya) and ComfyUI-trained files name the *original* MMDiT layers:
  ``lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight`` or
  ``diffusion_model.joint_blocks.0.x_block.attn.qkv.lora_A.weight``. A fused ``qkv`` layer
  becomes three diffusers projections (``to_q``/``to_k``/``to_v``, or ``add_*_proj`` in the
  context block) sharing the down matrix, each with a third of the up matrix's rows; the
  adaLN layers whose halves diffusers swaps (the last, pre-only context block's: two chunks
  instead of six; the final layer's) get their up rows swapped the same way.
- OneTrainer (``lora_transformer_<diffusers name>``), SimpleTuner LyCORIS (``lycoris_...``) and
  ``base_model.model.<diffusers name>`` files only need their prefix changed, as ComfyUI does.

The original names come from ``sd3_convert``'s tables, so both directions use one mapping.
"""

from __future__ import annotations

import re

import torch

from pipelines.loading.sd3_convert import _BLOCK, _QKV, _TOP

_ORIGINAL_PREFIXES = ("lora_unet_", "diffusion_model.", "model.diffusion_model.")
_KIND = re.compile(r"^(.+?)\.(lora_down|lora_up|lora_A|lora_B|alpha|hada_w[12]_[ab]|"
                   r"hada_t[12]|lokr_w[12](?:_[ab])?|lokr_t2|diff|dora_scale)(\.weight)?$")
_RENAMED = {"lora_transformer_": "lora_unet_", "lycoris_": "lora_unet_"}
_QKV_PARTS = {"attn.to_": ("to_q", "to_k", "to_v"),
              "attn.add_": ("add_q_proj", "add_k_proj", "add_v_proj"),
              "attn2.to_": ("to_q", "to_k", "to_v")}


def _flat(name: str) -> str:
    return name.rstrip(".").replace(".", "_")


def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, ...]]]:
    """(top-level original -> diffusers, in-block original -> diffusers, in-block fused qkv
    original -> its three diffusers projections), all with underscores."""
    top = {_flat(new): _flat(old) for old, new in _TOP.items() if old.endswith(".")}
    top["final_layer_adaLN_modulation_1"] = "norm_out_linear"
    block = {_flat(new): _flat(old) for old, new in _BLOCK.items()}
    qkv = {_flat(new): tuple(_flat(old.rsplit(".", 1)[0] + "." + part)
                             for part in _QKV_PARTS[old]) for old, new in _QKV.items()}
    return top, block, qkv


def _original(name: str) -> tuple[list[str], bool] | None:
    """(diffusers layer names with underscores, swap the halves?) of an original-layout layer
    name with underscores, or None when it is not one."""
    top, block, qkv = _tables()
    if name in top:
        return [top[name]], name == "final_layer_adaLN_modulation_1"
    match = re.match(r"^joint_blocks_(\d+)_(.+)$", name)
    if match is None:
        return None
    index, rest = match.groups()
    prefix = f"transformer_blocks_{index}_"
    if rest in qkv:
        return [prefix + part for part in qkv[rest]], False
    if rest in block:
        return [prefix + block[rest]], rest == "context_block_adaLN_modulation_1"
    return None


def _swap_rows(up: torch.Tensor) -> torch.Tensor:
    first, second = up.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def sd3_lora_state(state: dict[str, torch.Tensor], source: str = "LoRA"
                   ) -> dict[str, torch.Tensor]:
    """An SD3 LoRA with original-layout and other trainers' names turned into the kohya
    spelling of diffusers names (``lora_unet_transformer_blocks_0_attn_to_q.lora_down``);
    PEFT/diffusers keys pass through unchanged."""
    out: dict[str, torch.Tensor] = {}
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        renamed = key
        for old, new in _RENAMED.items():
            if key.startswith(old):
                renamed = new + key[len(old):]
        if renamed.startswith("base_model.model."):
            renamed = "transformer." + renamed[len("base_model.model."):]
        prefix = next((p for p in _ORIGINAL_PREFIXES if renamed.startswith(p)), None)
        match = _KIND.match(renamed[len(prefix):]) if prefix else None
        target = _original(_flat(match.group(1))) if match else None
        if target is None:
            out[renamed] = value
            continue
        groups.setdefault(_flat(match.group(1)), {})[match.group(2)] = value
    for name, tensors in groups.items():
        layers, swap = _original(name)  # type: ignore[misc]  # grouped only when known
        up_key = "lora_up" if "lora_up" in tensors else "lora_B"
        down_key = "lora_down" if "lora_down" in tensors else "lora_A"
        if swap and up_key in tensors and down_key in tensors and name.startswith("joint"):
            # only the last (pre-only) context block's adaLN is swapped: 2 chunks, not 6
            swap = tensors[up_key].shape[0] == 2 * tensors[down_key].shape[1]
        if len(layers) > 1 or swap:
            if up_key not in tensors or down_key not in tensors:  # LyCORIS on a split layer
                continue  # no match: apply_lora names the layers it could not apply
            ups = tensors[up_key].chunk(len(layers), dim=0)
            for layer, up in zip(layers, ups, strict=True):
                out[f"lora_unet_{layer}.lora_up.weight"] = _swap_rows(up) if swap else up
                out[f"lora_unet_{layer}.lora_down.weight"] = tensors[down_key]
                if "alpha" in tensors:
                    out[f"lora_unet_{layer}.alpha"] = tensors["alpha"]
            continue
        kinds = {"lora_A": "lora_down", "lora_B": "lora_up"}
        for kind, value in tensors.items():
            suffix = "" if kind == "alpha" else ".weight"
            out[f"lora_unet_{layers[0]}.{kinds.get(kind, kind)}{suffix}"] = value
    return out
