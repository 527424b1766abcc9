"""A model cache entry: one load, the networks inside it, their bytes, dtypes and storage."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

from pipelines.memory.companions import move, own_bytes
from pipelines.memory.networks import device_of, tensor_bytes

RAM_KINDS = ("cpu", "mps")  # MPS shares system memory; every other device type is "VRAM"


@dataclass(eq=False)
class Entry:
    """One load in the cache: its value, the networks inside it, where they are kept, and
    their bytes and dtypes as loaded."""

    key: Hashable
    value: Any
    device: torch.device  # where the networks live while cached (the storage device)
    networks: list[torch.nn.Module]
    pins: int = 0  # > 0 while a node runs it (``using``): never moved or dropped then
    owned: set[int] = field(default_factory=set)  # ids of its networks and parameters
    sizes: list[int] = field(default_factory=list)  # bytes per network (``measure``)
    # of which its companions' own tensors (compiled copies), per device type they are on
    companion_bytes: list[dict[str, int]] = field(default_factory=list)
    dtypes: list[torch.dtype | None] = field(default_factory=list)  # as loaded

    def __post_init__(self) -> None:
        self.dtypes = [dtype_of(n) for n in self.networks]
        self.measure()

    def measure(self) -> bool:
        """Measure the bytes again; False when a network's dtype is not the one it was loaded
        in (the entry no longer matches its key). A network's bytes include its companions'
        own tensors (``pipelines.memory.companions``: fused or channels_last weights of a
        compiled copy)."""
        self.companion_bytes = [own_bytes(n) for n in self.networks]
        self.sizes = [sum(tensor_bytes([n]).values()) + sum(extra.values())
                      for n, extra in zip(self.networks, self.companion_bytes, strict=True)]
        return [dtype_of(n) for n in self.networks] == self.dtypes

    def bytes(self) -> dict[str, int]:
        """Bytes per device type; where each network is is looked up now (nodes move them),
        its companions' tensors counted where they are."""
        total: dict[str, int] = {}
        for network, size, extra in zip(self.networks, self.sizes, self.companion_bytes,
                                        strict=True):
            kind = device_of(network).type
            total[kind] = total.get(kind, 0) + size - sum(extra.values())
            for other, nbytes in extra.items():
                total[other] = total.get(other, 0) + nbytes
        return total

    def move(self, device: torch.device) -> None:
        """Move the networks; their companions' own tensors are released (rebuilt where the
        networks are when next used), so an offload frees them too."""
        for network in self.networks:
            move(network, device)
        self.measure()

    @property
    def offloaded(self) -> bool:
        return is_gpu(self.device) and any(
            device_of(n).type != self.device.type for n in self.networks)


def is_gpu(device: torch.device) -> bool:
    """Whether memory on ``device`` counts against the VRAM budget (not CPU or MPS)."""
    return device.type not in RAM_KINDS


def dtype_of(network: torch.nn.Module) -> torch.dtype | None:
    """The dtype of a network's first floating-point parameter (None: it has none)."""
    return next((p.dtype for p in network.parameters() if p.is_floating_point()), None)
