"""A process-wide cache of loaded models with RAM and VRAM budgets, least recently used first.

Entries are whole loads (a checkpoint's ``(model, clip, vae)``, a VAE, an upscaler) keyed by
what makes a load different: the kind of load, the resolved path, its modification time and
size (a file replaced on disk is loaded again), the dtypes and the storage device.

Budget policy, applied after every load, hit and ``using``:

1. VRAM (CUDA only): while the networks on the GPU exceed ``vram_budget``, the least recently
   used entry is moved to the CPU ("offloaded"). It stays cached in RAM; its next use moves it
   back to its device, which may offload another entry in turn.
2. RAM (CPU and MPS, which shares system memory): while the networks in RAM exceed
   ``ram_budget``, the least recently used entry is dropped.

The entry being returned or in use (``using``) is never moved or dropped, so one model larger
than the budget still loads. Dropping forgets the cache's reference; memory comes back once
nobody else (e.g. the executor's result cache) holds the model. Budgets count the bytes of
parameters and buffers the networks hold (measured at load; where each network is, is looked up
each time), from ``STUDIO_RAM_BUDGET_GB`` / ``STUDIO_VRAM_BUDGET_GB`` (GiB), else 50% of system
RAM and 80% of the current GPU's memory. Loads run one at a time; a hit does not wait for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipelines.placement import device_of, networks_of, tensor_bytes

log = logging.getLogger(__name__)
GIB = 2**30
RAM_ENV, VRAM_ENV = "STUDIO_RAM_BUDGET_GB", "STUDIO_VRAM_BUDGET_GB"


def file_fingerprint(path: str | Path) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a file; of a folder, its newest file's mtime and the total size,
    so replacing ``unet/*.safetensors`` inside a model folder counts as a change."""
    path = Path(path)
    if not path.is_dir():
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size
    newest, size = path.stat().st_mtime_ns, 0
    for item in path.rglob("*"):
        if item.is_file():
            stat = item.stat()
            newest, size = max(newest, stat.st_mtime_ns), size + stat.st_size
    return newest, size


def model_key(kind: str, path: str | Path, device: str, *extra: Hashable) -> tuple:
    """Cache key of one load: kind, resolved path, fingerprint, storage device, the rest."""
    resolved = Path(path).resolve()
    return (kind, str(resolved), *file_fingerprint(resolved), str(device), *extra)


def _budget_from_env(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of GiB (e.g. {name}=8)") from None
    if value < 0:
        raise ValueError(f"{name}={text!r} must be 0 or more GiB")
    return int(value * GIB)


def system_memory() -> int:
    """Total system RAM in bytes (psutil when installed, else sysconf; 16 GiB if neither)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows without psutil
        return 16 * GIB


def default_ram_budget() -> int:
    """``STUDIO_RAM_BUDGET_GB``, else half of the system's RAM."""
    from_env = _budget_from_env(RAM_ENV)
    return from_env if from_env is not None else system_memory() // 2


def default_vram_budget() -> int:
    """``STUDIO_VRAM_BUDGET_GB``, else 80% of the current CUDA GPU (0 without one)."""
    from_env = _budget_from_env(VRAM_ENV)
    if from_env is not None:
        return from_env
    if not torch.cuda.is_available():
        return 0
    return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory * 0.8)


@dataclass(eq=False)
class _Entry:
    key: Hashable
    value: Any
    device: torch.device  # where the networks live while cached (the storage device)
    networks: list[torch.nn.Module]
    pins: int = 0  # > 0 while a node runs it (``using``): never moved or dropped then
    owned: set[int] = field(default_factory=set)  # ids of its networks and parameters
    sizes: list[int] = field(default_factory=list)  # bytes per network, measured at load

    def __post_init__(self) -> None:
        self.sizes = [sum(tensor_bytes([n]).values()) for n in self.networks]

    def bytes(self) -> dict[str, int]:
        """Bytes per device type; where each network is is looked up now (nodes move them)."""
        total: dict[str, int] = {}
        for network, size in zip(self.networks, self.sizes, strict=True):
            kind = device_of(network).type
            total[kind] = total.get(kind, 0) + size
        return total

    def move(self, device: torch.device) -> None:
        for network in self.networks:
            network.to(device)

    @property
    def offloaded(self) -> bool:
        return self.device.type == "cuda" and any(
            device_of(n).type != "cuda" for n in self.networks)


class ModelCache:
    """Loaded models shared by every run in this process (thread-safe).

    Args:
        ram_budget: Bytes of RAM for cached models; None: ``default_ram_budget()``.
        vram_budget: Bytes of GPU memory; None: ``default_vram_budget()`` (read when first
            needed, so a CPU-only run never initialises CUDA).
    """

    def __init__(self, ram_budget: int | None = None, vram_budget: int | None = None) -> None:
        self._ram_budget, self._vram_budget = ram_budget, vram_budget
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recent first
        self._owners: dict[int, Hashable] = {}
        self._lock = threading.RLock()  # bookkeeping; held briefly
        self._load_lock = threading.Lock()  # one load at a time (a load takes seconds)
        self.hits = self.misses = self.evictions = self.offloads = 0

    # -- budgets -------------------------------------------------------------------------
    @property
    def ram_budget(self) -> int:
        if self._ram_budget is None:
            self._ram_budget = default_ram_budget()
        return self._ram_budget

    @property
    def vram_budget(self) -> int:
        if self._vram_budget is None:
            self._vram_budget = default_vram_budget()
        return self._vram_budget

    def set_budgets(self, ram: int | None = None, vram: int | None = None) -> None:
        """Change the budgets (bytes; None keeps one) and apply them now."""
        with self._lock:
            if ram is not None:
                self._ram_budget = int(ram)
            if vram is not None:
                self._vram_budget = int(vram)
            self._enforce(set())

    def used(self) -> tuple[int, int]:
        """``(ram_bytes, vram_bytes)`` held by cached networks, measured now."""
        with self._lock:
            total: dict[str, int] = {}
            for entry in self._entries.values():
                for kind, size in entry.bytes().items():
                    total[kind] = total.get(kind, 0) + size
        vram = total.pop("cuda", 0)
        return sum(total.values()), vram

    # -- use -----------------------------------------------------------------------------
    def get_or_load(self, key: Hashable, load: Callable[[], Any], device: str | torch.device,
                    estimate: int | Callable[[], int] = 0) -> Any:
        """The cached value of ``key``, or ``load()``'s result, cached.

        Args:
            key: What makes this load different from others (``model_key``).
            load: Loads the value with its networks on ``device``.
            device: Where the networks live while cached.
            estimate: Expected bytes (or a function computing them, called on a miss only),
                to make room before loading; 0: unknown.
        """
        device = torch.device(device)
        hit = self._hit(key)
        if hit is not None:
            return hit[0]
        with self._load_lock:  # a second thread wanting the same model waits, then hits
            with self._lock:
                if (hit := self._hit(key)) is not None:
                    return hit[0]
                self.misses += 1
                estimate = estimate() if callable(estimate) else estimate
                on_gpu = device.type == "cuda"
                self._enforce(set(), extra_vram=estimate if on_gpu else 0,
                              extra_ram=0 if on_gpu else estimate)
            value = load()
            with self._lock:
                entry = _Entry(key, value, device, networks_of(value))
                self._entries[key] = entry
                self._own(entry)
                self._enforce({key})
            return value

    def _hit(self, key: Hashable) -> tuple[Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self.hits += 1
            self._touch(entry)
            return (entry.value,)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    @contextlib.contextmanager
    def using(self, networks: Iterable[torch.nn.Module]) -> Iterator[None]:
        """Mark the entries owning ``networks`` (or sharing their parameters, as LoRA copies
        do) most recently used, bring offloaded ones back to their device, and keep them from
        being moved or dropped inside the block."""
        with self._lock:
            entries = {id(e): e for n in networks if (e := self._owner(n)) is not None}
            for entry in entries.values():
                entry.pins += 1
                self._touch(entry)
        try:
            yield
        finally:
            with self._lock:
                for entry in entries.values():
                    entry.pins -= 1

    def stats(self) -> dict[str, int]:
        """Hits, misses, evictions, offloads, entries, bytes in RAM/VRAM and the budgets."""
        ram, vram = self.used()
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                    "offloads": self.offloads, "entries": len(self._entries),
                    "ram_bytes": ram, "vram_bytes": vram,
                    "ram_budget": self.ram_budget, "vram_budget": self.vram_budget}

    def clear(self) -> None:
        """Forget every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._owners.clear()
            self.hits = self.misses = self.evictions = self.offloads = 0

    # -- internals (called with the lock held) -----------------------------------------
    def _own(self, entry: _Entry) -> None:
        for network in entry.networks:
            for item in (network, *network.parameters()):
                entry.owned.add(id(item))
                self._owners[id(item)] = entry.key

    def _owner(self, network: torch.nn.Module) -> _Entry | None:
        key = self._owners.get(id(network))
        if key is None:  # a patched copy (LoRA) shares most parameters with its base
            key = next((k for p in network.parameters()
                        if (k := self._owners.get(id(p))) is not None), None)
        return self._entries.get(key) if key is not None else None

    def _touch(self, entry: _Entry) -> None:
        self._entries.move_to_end(entry.key)
        if entry.offloaded:
            self._enforce({entry.key}, extra_vram=entry.bytes().get("cpu", 0))
            entry.move(entry.device)
        self._enforce({entry.key})

    def _victim(self, protect: set[Hashable], kinds: tuple[str, ...]) -> _Entry | None:
        for entry in self._entries.values():  # least recently used first
            if entry.key in protect or entry.pins:
                continue
            if any(entry.bytes().get(kind, 0) for kind in kinds):
                return entry
        return None

    def _enforce(self, protect: set[Hashable], extra_vram: int = 0, extra_ram: int = 0) -> None:
        while extra_vram or any(e.device.type == "cuda" for e in self._entries.values()):
            _, vram = self.used()
            if vram + extra_vram <= self.vram_budget:
                break
            victim = self._victim(protect, ("cuda",))
            if victim is None:
                break
            log.info("model cache: moving %s to the CPU (VRAM budget)", victim.key[1])
            victim.move(torch.device("cpu"))
            self.offloads += 1
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # give the freed blocks back for the next load
        while True:
            ram, _ = self.used()
            if ram + extra_ram <= self.ram_budget:
                break
            victim = self._victim(protect, ("cpu", "mps"))
            if victim is None:
                break
            log.info("model cache: dropping %s (RAM budget)", victim.key[1])
            del self._entries[victim.key]
            for item in victim.owned:
                self._owners.pop(item, None)
            self.evictions += 1


_default: ModelCache | None = None
_default_lock = threading.Lock()


def default_cache() -> ModelCache:
    """The process-wide cache every loader node uses."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ModelCache()
        return _default
