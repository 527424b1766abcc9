"""A process-wide cache of loaded models with RAM and VRAM budgets, least recently used first.

Entries are whole loads (a checkpoint's ``(model, clip, vae)``, a VAE, an upscaler) keyed by
what makes a load different: the kind of load, the resolved path, its fingerprint (a file or
any file of a folder replaced on disk is loaded again), the dtypes and the storage device.

Budget policy, applied after every load, hit and ``using`` (and ``reserve``):

1. VRAM (the GPU: any device but the CPU and MPS): while the networks on the GPU exceed
   ``vram_budget`` (plus what ``reserve`` asks for), the least recently used entry is moved to
   the CPU ("offloaded"). It stays cached in RAM; its next use moves it back to its device,
   which may offload another entry in turn.
2. RAM (CPU and MPS, which shares system memory): while the networks in RAM exceed
   ``ram_budget``, the least recently used entry is dropped.

The entry being returned or in use (``using``) is never moved or dropped, so one model larger
than the budget still loads. Dropping forgets the cache's reference; memory comes back once
nobody else (e.g. the executor's result cache) holds the model. Budgets count the bytes of
parameters and buffers the networks hold, with their companions' own tensors (a compiled
copy's fused or channels_last weights, ``pipelines.memory.companions``, released when an entry
is moved) (measured at load and again after each ``using``;
where each network is, is looked up each time), from ``pipelines.memory.budget``. Loads run one
at a time; a hit does not wait for them.

An entry whose networks changed dtype while in use (``pipelines.sampling.vae`` converts an fp16 VAE
that overflowed to fp32 in place) no longer matches its key: it is dropped rather than re-keyed,
so a request for fp16 never gets an fp32 network silently; the next request loads what it asks
for (whoever holds the converted one, e.g. the executor's result cache, keeps using it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

import torch

from pipelines.memory.budget import default_ram_budget, default_vram_budget
from pipelines.memory.entries import RAM_KINDS as _RAM_KINDS
from pipelines.memory.entries import Entry as _Entry
from pipelines.memory.entries import is_gpu as _is_gpu
from pipelines.memory.networks import networks_of

log = logging.getLogger(__name__)


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
        ram = sum(total.get(kind, 0) for kind in _RAM_KINDS)
        return ram, sum(total.values()) - ram

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
                on_gpu = _is_gpu(device)
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
            if entry is None or not self._refresh(entry):
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
        being moved or dropped inside the block. Afterwards their bytes are measured again and
        an entry whose dtypes changed is dropped (see the module doc)."""
        with self._lock:
            entries = {id(e): e for n in networks if (e := self._owner(n)) is not None}
            for entry in entries.values():
                entry.pins += 1
                self._touch(entry)
        try:
            yield
        finally:
            with self._lock:
                before = {id(e): list(e.sizes) for e in entries.values()}
                for entry in entries.values():
                    entry.pins -= 1
                    self._refresh(entry)
                if any(e.sizes != before[id(e)] for e in entries.values()):
                    self._enforce({e.key for e in entries.values()})

    def reserve(self, nbytes: int, device: str | torch.device) -> None:
        """Make room for ``nbytes`` more on ``device`` before networks move there (low VRAM):
        idle entries on the GPU go to the CPU while the VRAM budget would be exceeded. Entries
        in use stay; nothing happens for the CPU or MPS."""
        if nbytes > 0 and _is_gpu(torch.device(device)):
            with self._lock:
                self._enforce(set(), extra_vram=nbytes)

    def storage_of(self, network: torch.nn.Module) -> torch.device | None:
        """The storage device of the entry owning ``network`` (or sharing its parameters, as
        a LoRA copy does); None when no entry does."""
        with self._lock:
            entry = self._owner(network)
            return entry.device if entry is not None else None

    def stats(self) -> dict[str, int]:
        """Hits, misses, evictions, offloads, entries, bytes in RAM/VRAM (every entry measured
        again) and the budgets."""
        with self._lock:
            for entry in list(self._entries.values()):
                self._refresh(entry)
            ram, vram = self.used()
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

    def _victim(self, protect: set[Hashable], gpu: bool) -> _Entry | None:
        for entry in self._entries.values():  # least recently used first
            if entry.key in protect or entry.pins:
                continue
            if any(size and (kind not in _RAM_KINDS) == gpu
                   for kind, size in entry.bytes().items()):
                return entry
        return None

    def _refresh(self, entry: _Entry) -> bool:
        """Measure ``entry`` again; drop it (and return False) when a network's dtype is no
        longer the one its key asks for (see the module doc)."""
        if entry.measure() or self._entries.get(entry.key) is not entry:
            return True
        log.warning("model cache: %s changed dtype since it was loaded; dropping it so the next "
                    "request loads the dtypes it asks for", entry.key[1])
        self._drop(entry)
        return False

    def _drop(self, entry: _Entry) -> None:
        del self._entries[entry.key]
        for item in entry.owned:
            self._owners.pop(item, None)

    def _enforce(self, protect: set[Hashable], extra_vram: int = 0, extra_ram: int = 0) -> None:
        while extra_vram or any(_is_gpu(e.device) for e in self._entries.values()):
            _, vram = self.used()
            if vram + extra_vram <= self.vram_budget:
                break
            victim = self._victim(protect, gpu=True)
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
            victim = self._victim(protect, gpu=False)
            if victim is None:
                break
            log.info("model cache: dropping %s (RAM budget)", victim.key[1])
            self._drop(victim)
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
