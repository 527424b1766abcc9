"""Companions of a cached network: objects built from it that hold tensors of their own.

The accelerated denoiser's compiled working copy (``pipelines.speed.accelerate``) shares every
weight with the cached denoiser but adds its own: fused QKV projections and channels_last
convolution weights (~1.1 GB for an fp16 SD1.5 UNet on CUDA). Companions are kept on the
network (a plain dict in its ``__dict__``, checked against its owner, so a shallow copy of the
network does not inherit them) and go when it goes. The model cache counts their own tensors
(the storages the network does not share, each once) in the network's entry, on the device
they are on, and every move of the network by the cache or ``on_device`` releases them
(``release``): an offloaded model frees its companions' VRAM too; they rebuild their tensors
from the network, wherever it is then, when next called.

A companion has ``tensors()`` (every tensor it holds, shared ones included: they are told
apart here) and ``release()``.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable
from typing import Any, Protocol

import torch

_ATTRIBUTE = "_studio_companions"


class Companion(Protocol):
    def tensors(self) -> Iterable[torch.Tensor]:
        """Every tensor it holds (shared with the network or its own)."""

    def release(self) -> None:
        """Free its own tensors; it rebuilds them from the network when next used."""


def companions(network: Any) -> dict[Hashable, Any]:
    """The companions of ``network`` by name, created empty on first use (for it alone: a
    shallow copy carrying its ``__dict__`` entry gets a dict of its own)."""
    entry = vars(network).get(_ATTRIBUTE)
    if not isinstance(entry, tuple) or entry[0]() is not network:
        entry = (weakref.ref(network), {})
        vars(network)[_ATTRIBUTE] = entry
    return entry[1]


def _existing(network: Any) -> list[Any]:
    """Its companions, without creating the dict (measuring never changes a network)."""
    entry = getattr(network, "__dict__", {}).get(_ATTRIBUTE)
    if not isinstance(entry, tuple) or entry[0]() is not network:
        return []
    return list(entry[1].values())


def _storage(tensor: torch.Tensor) -> tuple[tuple[str, int | None, int], int]:
    """A tensor's storage as ``((device type, index, address), bytes)``."""
    try:
        storage = tensor.untyped_storage()
        address, size = storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError, TypeError):  # tensor subclasses without one
        address, size = tensor.data_ptr(), tensor.numel() * tensor.element_size()
    return (tensor.device.type, tensor.device.index, address), size


def own_bytes(network: torch.nn.Module) -> dict[str, int]:
    """Bytes per device type of the storages ``network``'s companions hold and it does not
    (each storage once; released tensors, on the meta device, hold none)."""
    found = _existing(network)
    if not found:
        return {}
    shared = {_storage(t)[0] for t in (*network.parameters(), *network.buffers())}
    seen: set[tuple[str, int | None, int]] = set()
    total: dict[str, int] = {}
    for companion in found:
        for tensor in companion.tensors():
            if tensor.device.type == "meta":
                continue
            key, size = _storage(tensor)
            if key in shared or key in seen:
                continue
            seen.add(key)
            total[key[0]] = total.get(key[0], 0) + size
    return total


def release(network: torch.nn.Module) -> None:
    """Tell ``network``'s companions to free their own tensors (it moved, or is moving)."""
    for companion in _existing(network):
        companion.release()


def move(network: torch.nn.Module, device: torch.device | str) -> None:
    """Move ``network`` and release its companions' own tensors (on the old device; they are
    rebuilt on the new one when next used)."""
    release(network)
    network.to(device)
