"""The executor's cache of node results between runs, with its caps.

Results holding networks (models, text encoders, VAEs, upscalers) are kept only while the
latest run uses them: the model cache and its memory budgets decide which networks stay
loaded. Other results are capped by count and by the bytes of their arrays, least recently
used first, even during a run.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class ResultCache:
    """Node results by cache key.

    Args:
        keep_previous: how many results that the latest run did not use stay cached.
        max_results, max_result_bytes: caps on results that are not networks.
    """

    def __init__(self, keep_previous: int, max_results: int, max_result_bytes: int) -> None:
        self.keep_previous = keep_previous
        self.max_results = max_results
        self.max_result_bytes = max_result_bytes
        self._results: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._networks: set[str] = set()  # keys of cached results that hold networks
        self._sizes: dict[str, int] = {}  # bytes of arrays in each other cached result

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def clear(self) -> None:
        self._results.clear()
        self._networks.clear()
        self._sizes.clear()

    def get(self, key: str) -> tuple[Any, ...]:
        """The cached outputs of ``key``, now the most recently used."""
        self._results.move_to_end(key)
        return self._results[key]

    def store(self, key: str, outputs: tuple[Any, ...], network: bool) -> None:
        """Cache ``outputs``; evict the least recently used results over the caps."""
        self._results[key] = outputs
        if network:
            self._networks.add(key)
            return
        self._sizes[key] = nbytes(outputs)
        total = sum(self._sizes.values())
        for old in list(self._results):  # least recently used first
            if len(self._sizes) <= self.max_results and total <= self.max_result_bytes:
                break
            if old != key and old in self._sizes:
                total -= self._sizes.pop(old)
                del self._results[old]

    def drop_networks(self, used: set[str]) -> None:
        """Forget results holding networks that ``used`` (this run's keys) does not name."""
        for key in [k for k in self._networks if k not in used]:
            del self._results[key]
            self._networks.discard(key)

    def prune(self, used: set[str]) -> None:
        """After a run: unused networks go, and all but ``keep_previous`` other unused results."""
        self.drop_networks(used)
        others = [k for k in self._results if k not in used]
        for key in others[: max(0, len(others) - self.keep_previous)]:
            del self._results[key]
            self._sizes.pop(key, None)


def nbytes(value: Any, depth: int = 0) -> int:
    """Bytes of the arrays (tensors, numpy) in a result, looking two levels into containers."""
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if depth < 2 and isinstance(value, (tuple, list)):
        return sum(nbytes(v, depth + 1) for v in value)
    if depth < 2 and isinstance(value, dict):
        return sum(nbytes(v, depth + 1) for v in value.values())
    return 0
