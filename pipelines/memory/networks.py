"""Finding the torch networks inside loaded values, where they are and how many bytes they hold
(shared by the model cache and VRAM placement)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import torch


def networks_of(value: Any) -> list[torch.nn.Module]:
    """The torch networks inside a loaded value: a module, a dataclass such as
    ``DiffusionModel``/``TextEncoder``/``Vae``/``UpscaleModel``, or a tuple/list of them."""
    found: list[torch.nn.Module] = []
    if isinstance(value, torch.nn.Module):
        found.append(value)
    elif isinstance(value, tuple | list):
        for item in value:
            found.extend(networks_of(item))
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            item = getattr(value, f.name)
            if isinstance(item, torch.nn.Module):
                found.append(item)
            elif isinstance(item, dict) and item and all(
                    isinstance(t, torch.Tensor) for t in item.values()):
                found.append(TensorHolder(item))  # weights kept as tensors (IP-Adapter files)
    unique: dict[int, torch.nn.Module] = {id(n): n for n in found}
    return list(unique.values())


class TensorHolder(torch.nn.Module):
    """Plain tensors (a dict of weights) seen as a network, sharing their storage, so the cache
    counts their bytes."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        for index, tensor in enumerate(tensors.values()):
            self.register_buffer(f"t{index}", tensor, persistent=False)


def device_of(network: torch.nn.Module) -> torch.device:
    """Where a network's (first) parameter lives; CPU for a network without parameters."""
    first = next(network.parameters(), None)
    if first is None:
        first = next(network.buffers(), None)
    return first.device if first is not None else torch.device("cpu")


def tensor_bytes(networks: list[torch.nn.Module]) -> dict[str, int]:
    """Bytes of parameters and buffers per device type (tensors shared between networks once)."""
    seen: set[int] = set()
    total: dict[str, int] = {}
    for network in networks:
        for tensor in (*network.parameters(), *network.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                kind = tensor.device.type
                total[kind] = total.get(kind, 0) + tensor.numel() * tensor.element_size()
    return total


def same_device(a: str | torch.device, b: str | torch.device) -> bool:
    """True when ``a`` and ``b`` are one device ("cuda" is the current GPU, "mps" is "mps:0")."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cuda":
        current = torch.cuda.current_device() if a.index is None or b.index is None else 0
        return (current if a.index is None else a.index) == (current if b.index is None else b.index)
    return a.type in ("cpu", "mps") or a.index == b.index
