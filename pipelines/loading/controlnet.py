"""Load ControlNets and T2I-Adapters from what users have (offline, no code from the file runs):

- a diffusers folder (``config.json`` of a ``ControlNetModel`` or ``T2IAdapter``, or a model
  folder holding ``controlnet/``);
- a single file in diffusers' key layout (``controlnet_cond_embedding.*``, ``down_blocks.*``),
  its config read from a ``config.json`` beside it or else off the tensor shapes;
- an original-layout single file (``control_model.*``, as lllyasviel's ``control_*.pth`` and
  the ``.safetensors`` in the wild; also without the prefix), converted with diffusers' key
  map, its config read off the shapes.

``.pth``/``.ckpt`` files are read with ``torch.load(weights_only=True)``; ``.safetensors``
without unpickling. A "diff" ControlNet (a ``difference`` key: the weights it shares with the
UNet are stored relative to a base model) gets the model's UNet weights added, as ComfyUI's
DiffControlNetLoader does; without a model it is refused. A ControlNet-Union (xinsir's
``task_embedding`` layout) becomes a ``ControlNetUnionModel``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import ControlNet

HINT = ("Pick a ControlNet or T2I-Adapter: a diffusers folder (config.json) or a single "
        ".safetensors/.pth ControlNet file.")
_CLASSES = {"ControlNetModel": "controlnet", "T2IAdapter": "t2i_adapter",
            "ControlNetUnionModel": "controlnet_union",
            # SD3 / Flux (single files: pipelines.loading.transformer_controlnet)
            "SD3ControlNetModel": "sd3_controlnet", "FluxControlNetModel": "flux_controlnet"}


def _error(path: Path, message: str) -> ModelLoadError:
    return ModelLoadError(path, message, hint=HINT)


def _folder_class(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("_class_name") if isinstance(config, dict) else None


def _from_folder(path: Path, dtype: torch.dtype) -> ControlNet:
    folder = path / "controlnet" if (path / "controlnet" / "config.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise _error(path, "No config.json (nor controlnet/config.json).")
    name = _folder_class(folder)
    if name not in _CLASSES:
        raise _error(path, f"config.json describes a {name or 'unknown model'}, not a "
                           "ControlNetModel or T2IAdapter.")
    import diffusers

    try:
        network = getattr(diffusers, name).from_pretrained(str(folder), local_files_only=True,
                                                           torch_dtype=dtype)
    except Exception as exc:  # any failure here means a broken folder
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _error(path, f"The {name} could not be read ({detail}).") from exc
    return ControlNet(network, _CLASSES[name], str(path))


def is_original_layout(keys: Any) -> bool:
    """An original (ldm) ControlNet: ``control_model.*`` keys, or the same without prefix."""
    return any(k.removeprefix("control_model.").startswith("input_hint_block.") for k in keys)


def is_diffusers_layout(keys: Any) -> bool:
    return any(k.startswith("controlnet_cond_embedding.") for k in keys)


def convert_original(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """An original-layout ControlNet state dict in diffusers' key layout."""
    from pipelines.loading.controlnet_layout import to_diffusers

    converted, unknown = to_diffusers(state)
    if unknown:
        raise _error(path, f"Not a ControlNet this loader knows ({len(unknown)} unexpected "
                           f"weights, e.g. {unknown[0]}).")
    if "time_embedding.linear_1.weight" not in converted:
        raise _error(path, "Not a complete ControlNet (no time_embed weights).")
    return converted


def _heads(cross_dim: int, channels: list[int]) -> int | list[int]:
    """Attention heads per block: SD1.x has 8 everywhere; SD2.x and SDXL use 64-wide heads;
    other widths get diffusers' default (8). Not stored in the weights."""
    if cross_dim in (1024, 2048):
        return [max(1, c // 64) for c in channels]
    return 8


def config_from_state(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """The ``ControlNetModel`` config of a diffusers-layout state dict, from its shapes."""
    try:
        conv_in = state["conv_in.weight"]
        hint_in = state["controlnet_cond_embedding.conv_in.weight"]
        blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("down_blocks.")})
        channels = [state[f"down_blocks.{i}.resnets.0.conv2.weight"].shape[0] for i in blocks]
    except KeyError as exc:
        raise _error(path, f"Not a ControlNet (no {exc.args[0]}).") from None
    if not blocks:
        raise _error(path, "Not a ControlNet (no down blocks).")
    layers = len({k.split(".")[3] for k in state if k.startswith("down_blocks.0.resnets.")})
    types, depth, cross_dim, linear = [], [], 768, False
    for i in blocks:
        attn = f"down_blocks.{i}.attentions.0."
        keys = [k for k in state if k.startswith(attn)]
        types.append("CrossAttnDownBlock2D" if keys else "DownBlock2D")
        depth.append(max(1, len({k[len(attn):].split(".")[1] for k in keys
                                 if k.startswith(attn + "transformer_blocks.")})))
        if keys:
            cross_dim = state[attn + "transformer_blocks.0.attn2.to_k.weight"].shape[1]
            linear = state[attn + "proj_in.weight"].dim() == 2
    embedding = [hint_in.shape[0]] + [
        state[f"controlnet_cond_embedding.blocks.{j}.weight"].shape[0]
        for j in range(1, 2 * 8, 2) if f"controlnet_cond_embedding.blocks.{j}.weight" in state]
    config: dict[str, Any] = {
        "in_channels": conv_in.shape[1], "conditioning_channels": hint_in.shape[1],
        "block_out_channels": channels, "layers_per_block": layers,
        "down_block_types": types, "cross_attention_dim": cross_dim,
        "transformer_layers_per_block": depth, "use_linear_projection": linear,
        "attention_head_dim": _heads(cross_dim, channels),
        "conditioning_embedding_out_channels": embedding,
    }
    if not any(k.startswith("mid_block.attentions.") for k in state):
        config["mid_block_type"] = "UNetMidBlock2D"
    if "add_embedding.linear_1.weight" in state:  # SDXL: pooled text + 6 time ids of 256
        config.update(addition_embed_type="text_time", addition_time_embed_dim=256,
                      projection_class_embeddings_input_dim=state[
                          "add_embedding.linear_1.weight"].shape[1])
    return config


def _beside(path: Path) -> dict[str, Any] | None:
    """A config file sitting next to a single file: ``<stem>.json`` or ``config.json``."""
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            try:
                config = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(config, dict) and config.get("_class_name") in _CLASSES:
                return config
    return None


def _add_base(state: dict[str, torch.Tensor], base: torch.nn.Module,
              path: Path) -> dict[str, torch.Tensor]:
    """A diff ControlNet's weights plus the base UNet's where the UNet has the same key (the
    hint block, zero convolutions and middle output are stored whole)."""
    weights = base.state_dict()
    out = {}
    for key, value in state.items():
        own = weights.get(key)
        if own is not None and own.shape != value.shape:
            raise _error(path, f"This diff ControlNet does not fit the model ({key} is "
                               f"{tuple(value.shape)}, the model's {tuple(own.shape)}): pick "
                               "the model it was made for.")
        out[key] = value.float() + own.detach().float().cpu() if own is not None else value
    return out


def _from_file(path: Path, dtype: torch.dtype, base: torch.nn.Module | None) -> ControlNet:
    from pipelines.loading.readers import read_state_dict
    from pipelines.loading.t2i_adapter_file import is_t2i_adapter, load_t2i_adapter_file
    from pipelines.loading.transformer_controlnet import load_transformer_controlnet

    state, _ = read_state_dict(path, ("state_dict", "adapter"), supported=HINT)
    transformer = load_transformer_controlnet(state, path, dtype, _beside(path))
    if transformer is not None:  # SD3 / Flux ControlNets
        return transformer
    diff = state.pop("difference", None) is not None
    if diff and base is None:
        raise _error(path, "This is a \"diff\" ControlNet (weights relative to a base model): "
                           "load it with Load Diff ControlNet, which takes that model.")
    if is_t2i_adapter(state):
        return ControlNet(load_t2i_adapter_file(state, path).to(dtype), "t2i_adapter",
                          str(path))
    if is_original_layout(state):
        state = convert_original(state, path)
        config = config_from_state(state, path)
        if path.stem.endswith(("_shuffle", "_shuffle_fp16")):  # as ComfyUI: pooled residuals
            config["global_pool_conditions"] = True
    elif is_diffusers_layout(state):
        config = _beside(path) or config_from_state(state, path)
    else:
        raise _error(path, "Not a ControlNet (no controlnet_cond_embedding or input_hint_block "
                           "weights).")
    if diff:
        state = _add_base(state, base, path)
    return _build(config, state, path, dtype)


def _build(config: dict[str, Any], state: dict[str, torch.Tensor], path: Path,
           dtype: torch.dtype) -> ControlNet:
    from diffusers import ControlNetModel, ControlNetUnionModel

    from pipelines.loading.controlnet_layout import union_config

    union = "task_embedding" in state
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    if union:
        config = union_config(config, state)
    try:
        network = (ControlNetUnionModel if union else ControlNetModel).from_config(config)
        network.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise _error(path, f"The weights do not fit the ControlNet read from the file "
                           f"({first[:200]}).") from None
    return ControlNet(network.to(dtype), "controlnet_union" if union else "controlnet", str(path))


def load_controlnet(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None,
                    base: torch.nn.Module | None = None) -> ControlNet:
    """A ControlNet, ControlNet-Union or T2I-Adapter, in eval mode without gradients, on
    ``device``. ``base``: the UNet a "diff" ControlNet's weights are relative to.

    Raises:
        ModelLoadError: missing, unsafe, or not a ControlNet/T2I-Adapter, or a diff ControlNet
            without (or not fitting) its base; names the file.
    """
    path, dtype = Path(path), dtype or torch.float32
    if path.is_dir():
        control = _from_folder(path, dtype)
    elif not path.exists():
        raise _error(path, "No such file or folder.")
    else:
        control = _from_file(path, dtype, base)
    control.network.eval().requires_grad_(False)
    control.network.to(device)
    return control
