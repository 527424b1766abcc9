"""Diffusers-format state dicts -> the original single-file layout (what A1111/ComfyUI save).

The inverse of ``diffusers.loaders.single_file_utils`` (``convert_ldm_unet_checkpoint`` and
friends), which the tests use to check round trips. Key prefixes of the original layout:

- UNet: ``model.diffusion_model.``; VAE: ``first_stage_model.``
- SD1: ``cond_stage_model.transformer.text_model.`` (Hugging Face CLIP layout)
- SD2: ``cond_stage_model.model.`` (OpenCLIP layout; the file carries one more layer than the
  diffusers text encoder, since SD2 uses the penultimate layer)
- SDXL: ``conditioner.embedders.0.transformer.`` (CLIP-L) + ``conditioner.embedders.1.model.``
  (OpenCLIP bigG); the refiner only ``conditioner.embedders.0.model.`` (bigG)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
           ("conv_shortcut", "skip_connection"))
_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
}


def _unet_prefix_map(config: dict[str, Any]) -> dict[str, str]:
    """Diffusers module prefix -> original prefix, for every block of a UNet2DConditionModel."""
    per_level = int(config["layers_per_block"]) + 1
    levels = len(config["down_block_types"])
    mapping = dict(_UNET_TOP)
    for i in range(levels):
        for j in range(per_level - 1):
            mapping[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{per_level * i + j + 1}.0."
            mapping[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{per_level * i + j + 1}.1."
        if i < levels - 1:
            mapping[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{per_level * (i + 1)}.0.op."
        for j in range(per_level):
            mapping[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{per_level * i + j}.0."
            mapping[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{per_level * i + j}.1."
        if i < levels - 1:
            slot = 2 if "CrossAttn" in config["up_block_types"][i] else 1
            mapping[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{per_level * i + per_level - 1}.{slot}."
    mapping["mid_block.resnets.0."] = "middle_block.0."
    mapping["mid_block.attentions.0."] = "middle_block.1."
    mapping["mid_block.resnets.1."] = "middle_block.2."
    return mapping


def _rename(key: str, mapping: dict[str, str]) -> str | None:
    prefix = max((p for p in mapping if key.startswith(p)), key=len, default=None)
    return None if prefix is None else mapping[prefix] + key[len(prefix):]


def unet_to_original(state: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Diffusers UNet2DConditionModel weights -> ``model.diffusion_model.*`` keys.

    Raises:
        ValueError: a key this converter does not know (an unsupported UNet variant).
    """
    mapping = _unet_prefix_map(config)
    out = {}
    for key, value in state.items():
        prefix = max((p for p in mapping if key.startswith(p)), key=len, default=None)
        if prefix is None:
            raise ValueError(f"no original-layout name for UNet key {key!r}")
        rest = key[len(prefix):]
        if ".resnets." in prefix:
            for diffusers_name, original_name in _RESNET:
                if rest.startswith(diffusers_name + "."):
                    rest = original_name + rest[len(diffusers_name):]
                    break
        out[UNET_PREFIX + mapping[prefix] + rest] = value
    return out


def _vae_prefix_map(levels: int, layers: int) -> dict[str, str]:
    mapping = {"mid_block.attentions.0.": "mid.attn_1.", "conv_norm_out.": "norm_out."}
    for part in ("encoder", "decoder"):
        mapping[f"{part}.mid_block.resnets.0."] = f"{part}.mid.block_1."
        mapping[f"{part}.mid_block.resnets.1."] = f"{part}.mid.block_2."
        mapping[f"{part}.mid_block.attentions.0."] = f"{part}.mid.attn_1."
        mapping[f"{part}.conv_norm_out."] = f"{part}.norm_out."
    for i in range(levels):
        for j in range(layers):
            mapping[f"encoder.down_blocks.{i}.resnets.{j}."] = f"encoder.down.{i}.block.{j}."
        for j in range(layers + 1):
            mapping[f"decoder.up_blocks.{i}.resnets.{j}."] = f"decoder.up.{levels - 1 - i}.block.{j}."
        mapping[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
        mapping[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{levels - 1 - i}.upsample."
    return mapping


_VAE_ATTN = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.",
             "to_out.0.": "proj_out."}


def vae_to_original(state: dict[str, torch.Tensor], prefix: str = VAE_PREFIX) -> dict[str, torch.Tensor]:
    """Diffusers AutoencoderKL weights -> ``first_stage_model.*`` keys (1x1 conv attention)."""
    levels = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.down_blocks."))
    layers = 1 + max(int(k.split(".")[4]) for k in state if k.startswith("encoder.down_blocks.0.resnets."))
    mapping = _vae_prefix_map(levels, layers)
    out = {}
    for key, value in state.items():
        new = _rename(key, mapping) or key
        if ".mid.attn_1." in new:
            head, _, rest = new.partition(".mid.attn_1.")
            for diffusers_name, original_name in _VAE_ATTN.items():
                if rest.startswith(diffusers_name):
                    rest = original_name + rest[len(diffusers_name):]
            new = f"{head}.mid.attn_1.{rest}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        out[prefix + new.replace("conv_shortcut", "nin_shortcut")] = value
    return out


def clip_to_original(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Hugging Face CLIPTextModel weights -> ``<prefix>text_model.*`` (transformers 5 dropped
    the ``text_model`` wrapper of CLIPTextModel; both forms are accepted)."""
    out = {}
    for key, value in state.items():
        if key.startswith("text_projection"):
            continue
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = value
    return out


_OPEN_CLIP_LAYER = (("self_attn.out_proj.", "attn.out_proj."), ("layer_norm1.", "ln_1."),
                    ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj."))


def open_clip_to_original(
    state: dict[str, torch.Tensor], prefix: str, extra_layer: bool = False
) -> dict[str, torch.Tensor]:
    """Hugging Face CLIP text weights -> OpenCLIP names (fused q/k/v ``in_proj``).

    Args:
        state: CLIPTextModel(WithProjection) state dict.
        prefix: e.g. ``cond_stage_model.model.``.
        extra_layer: Append one unused final layer (zeros), as SD2 files carry the full OpenCLIP
            tower of which SD2 uses the penultimate layer.
    """
    state = {k.removeprefix("text_model."): v for k, v in state.items()}
    out = {
        "token_embedding.weight": state["embeddings.token_embedding.weight"],
        "positional_embedding": state["embeddings.position_embedding.weight"],
        "ln_final.weight": state["final_layer_norm.weight"],
        "ln_final.bias": state["final_layer_norm.bias"],
    }
    if "text_projection.weight" in state:
        out["text_projection"] = state["text_projection.weight"].T.contiguous()
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layers."))
    for i in range(layers):
        src, dst = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            )
        for key, value in state.items():
            if key.startswith(src) and not any(f"self_attn.{p}_proj." in key for p in "qkv"):
                rest = key[len(src):]
                for hf_name, oc_name in _OPEN_CLIP_LAYER:
                    rest = rest.replace(hf_name, oc_name)
                out[dst + rest] = value
    if extra_layer:
        last = f"transformer.resblocks.{layers - 1}."
        for key in [k for k in out if k.startswith(last)]:
            out[f"transformer.resblocks.{layers}." + key[len(last):]] = torch.zeros_like(out[key])
        if "text_projection" not in out:
            hidden = out["ln_final.weight"].shape[0]
            out["text_projection"] = torch.eye(hidden)
    return {prefix + k: v for k, v in out.items()}


def pipeline_to_original(
    family: str, unet: Any, vae: Any, text_encoder: Any = None, text_encoder_2: Any = None
) -> dict[str, torch.Tensor]:
    """One original-layout state dict from diffusers components of ``family``.

    Args:
        family: A family with a single-file layout (sd1 | sd2 | sdxl | sdxl_refiner).
        unet, vae, text_encoder, text_encoder_2: diffusers / transformers modules.

    Returns:
        ``{key: tensor}`` ready for ``safetensors.torch.save_file``.
    """
    from pipelines.families import families, get_family

    layout = get_family(family).single_file
    if layout is None or get_family(family).id != family:
        known = [f.id for f in families() if f.single_file is not None]
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(known)}")
    state = unet_to_original(unet.state_dict(), dict(unet.config))
    state.update(vae_to_original(vae.state_dict()))
    encoders = {"text_encoder": text_encoder, "text_encoder_2": text_encoder_2}
    if layout.clip_prefix:
        state.update(clip_to_original(text_encoder.state_dict(), layout.clip_prefix))
    if layout.open_clip_prefix:
        state.update(open_clip_to_original(encoders[layout.open_clip_slot].state_dict(),
                                           layout.open_clip_prefix,
                                           extra_layer=layout.open_clip_extra_layer))
    return state


def save_single_file(
    path: str | Path, state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """Write ``state`` as a .safetensors file (contiguous copies; tied tensors are split)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path), metadata)
    return path
