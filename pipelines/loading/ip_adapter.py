"""Read an IP-Adapter file (Ye et al. 2023, "IP-Adapter: Text Compatible Image Prompt Adapter")
in the layout the released weights and ComfyUI's ``models/ipadapter`` use: a .safetensors file
with ``image_proj.*`` and ``ip_adapter.*`` keys, or a .bin pickle holding the two dicts
(opened weights-only). What kind of image projection it has (plain, plus, full face, face-id)
is read off its keys exactly as diffusers' converter reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import IPAdapterWeights

_HINT = "Pick an IP-Adapter file (ip-adapter_*.safetensors or .bin) from the ipadapter folder."
_PARTS = ("image_proj", "ip_adapter")


def projection_kind(image_proj: dict[str, torch.Tensor]) -> str:
    """The image projection of an adapter, in the order diffusers' converter tests its keys."""
    if "proj.weight" in image_proj:
        return "plain"
    if "proj.3.weight" in image_proj:
        return "full"
    if "perceiver_resampler.proj_in.weight" in image_proj:
        return "faceid_plus"
    if "norm.weight" in image_proj:
        return "faceid"
    return "plus"


def _split(flat: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    parts: dict[str, dict[str, torch.Tensor]] = {name: {} for name in _PARTS}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if head in parts and rest:
            parts[head][rest] = value
    return parts


def _read_pickle(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    from pipelines.loading.readers import read_state_dict

    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # refused (would run code) or damaged: the reader says which, in one line
        read_state_dict(path)
        raise ModelLoadError(path, "Not a readable IP-Adapter file.", hint=_HINT) from None
    if not isinstance(state, dict):
        raise ModelLoadError(path, "It holds no state dict of tensors.", hint=_HINT)
    if all(isinstance(state.get(name), dict) for name in _PARTS):
        return {name: {k: v for k, v in state[name].items() if isinstance(v, torch.Tensor)}
                for name in _PARTS}
    return _split({k: v for k, v in state.items() if isinstance(v, torch.Tensor)})


def load_ip_adapter(path: str | Path) -> IPAdapterWeights:
    """Raises: ModelLoadError: missing, unsafe, or not an IP-Adapter; names the file."""
    from pipelines.loading.readers import read_state_dict

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "No such file.", hint=_HINT)
    if path.suffix == ".safetensors":
        parts = _split(read_state_dict(path)[0])
    else:
        parts = _read_pickle(path)
    if not parts["image_proj"] or not parts["ip_adapter"]:
        missing = " and ".join(f"{name}.*" for name in _PARTS if not parts[name])
        raise ModelLoadError(path, f"Not an IP-Adapter (no {missing} weights).", hint=_HINT)
    if not any(key.endswith(".to_k_ip.weight") for key in parts["ip_adapter"]):
        raise ModelLoadError(path, "Not an IP-Adapter (no to_k_ip weights).", hint=_HINT)
    image_proj = {k: v.float() for k, v in parts["image_proj"].items()}
    ip_adapter = {k: v.float() for k, v in parts["ip_adapter"].items()}
    return IPAdapterWeights(image_proj, ip_adapter, projection_kind(image_proj), str(path))
