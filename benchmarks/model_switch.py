"""Switching between two checkpoints with the model cache, measured side by side in one run.

A = the built-in demo model (resources/models/demo), B = a tiny random SD1.x copy. Rows: the
first (cold) load of A, of B, then switching back to A and to B (cache hits), and, for
comparison, what a switch cost without the cache (a reload, files already in the OS cache).
The loads go through ``pipelines.loading.cached.load_checkpoint_cached``, what the Load
Checkpoint node calls.

Run: .venv/bin/python benchmarks/model_switch.py [--reps 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"


def _seconds(action, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from pipelines.loading.cached import load_checkpoint_cached
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.memory.cache import ModelCache
    from pipelines.memory.networks import networks_of, tensor_bytes
    from pipelines.memory.precision import checkpoint_dtypes
    from pipelines.testing.tiny import build_tiny_sd

    models = {"A demo": ROOT / "resources" / "models" / "demo",
              "B tiny-sd": build_tiny_sd(Path(tempfile.mkdtemp(prefix="bench-")) / "tiny-sd")}
    cache = ModelCache()
    rows: list[tuple[str, str, float]] = []
    cold: dict[str, float] = {}
    for name, path in models.items():
        start = time.perf_counter()
        load_checkpoint_cached(path, device=args.device, cache=cache)
        cold[name] = time.perf_counter() - start
        rows.append((name, "cold load (first)", cold[name]))
    reload: dict[str, float] = {}
    for name, path in models.items():
        dtypes = checkpoint_dtypes(path, args.device)
        reload[name] = _seconds(lambda p=path, d=dtypes: load_checkpoint(
            p, device=args.device, dtype=d), args.reps)
        rows.append((name, "switch without cache (reload)", reload[name]))
    hit: dict[str, float] = {}
    for name, path in models.items():
        hit[name] = _seconds(lambda p=path: load_checkpoint_cached(
            p, device=args.device, cache=cache), args.reps)
        rows.append((name, "switch back (cache hit)", hit[name]))

    print(f"device {args.device}; median of {args.reps} for reloads and hits")
    print(f"{'model':<10} {'what':<31} {'seconds':>9}")
    for name, what, seconds in rows:
        print(f"{name:<10} {what:<31} {seconds:>9.4f}")
    for name in models:
        size = tensor_bytes(networks_of(load_checkpoint_cached(models[name], cache=cache)))
        print(f"{name:<10} hit/cold {hit[name] / cold[name]:.4f}  hit/reload "
              f"{hit[name] / reload[name]:.4f}  ({sum(size.values()) / 2**20:.1f} MiB)")
    stats = cache.stats()
    print(f"cache: {stats['hits']} hits, {stats['misses']} misses, {stats['evictions']} "
          f"evictions, {stats['ram_bytes'] / 2**20:.1f} MiB of {stats['ram_budget'] / 2**30:.1f} "
          "GiB RAM budget")


if __name__ == "__main__":
    main()
