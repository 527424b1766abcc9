"""T2I-Adapter single files (Mou et al. 2023): TencentARC's original layout (``conv_in``,
``body.N.block1`` ... as ``t2iadapter_*_sd14v1.pth``; the light "color" adapter's
``body.N.in_conv`` / ``body.N.body.M``; optionally wrapped in an ``adapter`` dict) and
diffusers' layout (``adapter.*``, a ``diffusion_pytorch_model.safetensors`` on its own),
read without running code and built as diffusers' ``T2IAdapter``.

The config is read off the shapes, as ComfyUI's ``load_t2i_adapter`` does: the input
convolution's width is the hint channels (1 for sketches, else 3) times the pixel-unshuffle
factor squared; an unshuffle of 16 is SDXL's adapter (``full_adapter_xl``), otherwise SD's.
Originals have two residual blocks per level (all released ones do). A ``config.json`` (or
``<stem>.json``) beside the file wins over the shapes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

_HINT = ("Pick a T2I-Adapter: a diffusers folder (config.json) or a TencentARC "
         "t2iadapter_*.pth/.safetensors file.")


def is_t2i_adapter(state: dict[str, Any]) -> bool:
    """Keys of a T2I-Adapter in either layout (not a ControlNet's)."""
    if isinstance(state.get("adapter"), dict):
        return True
    return any(k.startswith(("adapter.body.", "body.0.")) for k in state) and not any(
        k.startswith(("input_hint_block.", "control_model.", "controlnet_")) for k in state)


def _original_to_diffusers(state: dict[str, torch.Tensor],
                           per_level: int = 2) -> dict[str, torch.Tensor]:
    light = "body.0.in_conv.weight" in state and "conv_in.weight" not in state
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "body" and light and parts[2] == "body":  # body.i.body.j -> resnets
            key = f"body.{parts[1]}.resnets.{'.'.join(parts[3:])}"
        elif parts[0] == "body" and not light:  # body.(i * per_level + j) -> body.i.resnets.j
            i, j = divmod(int(parts[1]), per_level)
            rest = ".".join(parts[2:])
            key = (f"body.{i}.{rest}" if rest.startswith("in_conv.")
                   else f"body.{i}.resnets.{j}.{rest}")
        out["adapter." + key] = value
    return out


def _unshuffle(width: int, path: Path) -> tuple[int, int]:
    """(hint channels, pixel-unshuffle factor) of an input convolution ``width`` wide."""
    for channels in (3, 1):
        factor = math.isqrt(width // channels) if width % channels == 0 else 0
        if factor and channels * factor * factor == width:
            return channels, factor
    raise ModelLoadError(path, f"Not a T2I-Adapter this loader knows (input width {width}).",
                         hint=_HINT)


def _config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    levels = sorted({int(k.split(".")[2]) for k in state if k.startswith("adapter.body.")})
    resnets = {k.split(".")[4] for k in state if k.startswith("adapter.body.0.resnets.")}
    if "adapter.body.0.out_conv.weight" in state:  # light: one more level than channels
        width = state["adapter.body.0.in_conv.weight"].shape[1]
        channels = [int(state[f"adapter.body.{i}.out_conv.weight"].shape[0])
                    for i in levels[:-1]]
        kind = "light_adapter"
    elif "adapter.conv_in.weight" in state:
        width = state["adapter.conv_in.weight"].shape[1]
        channels = [int(state[f"adapter.body.{i}.resnets.0.block1.weight"].shape[0])
                    for i in levels]
        kind = None
    else:
        raise ModelLoadError(path, "Not a T2I-Adapter (no conv_in or in_conv weights).",
                             hint=_HINT)
    hint_channels, factor = _unshuffle(int(width), path)
    if kind is None:
        kind = "full_adapter_xl" if factor == 16 else "full_adapter"
    return {"in_channels": hint_channels, "channels": channels,
            "num_res_blocks": max(1, len(resnets)), "downscale_factor": factor,
            "adapter_type": kind}


def _beside(path: Path) -> dict[str, Any] | None:
    import json

    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        try:
            config = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("_class_name") == "T2IAdapter":
            return {k: v for k, v in config.items() if not k.startswith("_")}
    return None


def load_t2i_adapter_file(state: dict[str, Any], path: Path) -> torch.nn.Module:
    """The ``T2IAdapter`` of a single file's state dict (float32, eval mode).

    Raises:
        ModelLoadError: not a T2I-Adapter this loader knows; names the file.
    """
    from diffusers import T2IAdapter

    if isinstance(state.get("adapter"), dict):
        state = state["adapter"]
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not any(k.startswith("adapter.") for k in state):
        if any(k.endswith("down_opt.op.weight") for k in state):
            raise ModelLoadError(path, "This T2I-Adapter downsamples with convolutions, which "
                                       "diffusers' T2IAdapter has no place for.", hint=_HINT)
        state = _original_to_diffusers(state)
    config = _beside(path) or _config(state, path)
    try:
        adapter = T2IAdapter.from_config(config)
        adapter.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(path, f"The weights do not fit the T2I-Adapter read from the file "
                                   f"({first[:200]}).", hint=_HINT) from None
    return adapter.float().eval()
