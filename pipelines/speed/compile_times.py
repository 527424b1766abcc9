"""How long compiling the denoiser took, per (model, size, mode), kept between launches.

The first step at a new size compiles the denoiser (``pipelines.speed.accelerate``): seconds
to minutes. Each such first call is timed and written to ``compile_times.json`` in the
acceleration cache folder, so the next time the status line can say "compiling the model for
this size, ~N s, once" instead of "may take minutes". The file is small JSON
``{key: seconds}``, written atomically (a scratch file renamed over it); a damaged or
unreadable file reads as empty and is replaced on the next write. The latest measurement
counts: a second launch reuses inductor's disk cache and compiles faster, which is what the
user will wait next.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)
FILE_NAME = "compile_times.json"
_lock = threading.Lock()


def compile_key(model: str, size: str, mode: str, device: str) -> str:
    """The store's key: the model's identity (architecture), the input size, the mode and
    the device type (the CPU compiles other kernels, slower)."""
    return f"{model}|{size}|{mode}|{device}"


class CompileTimes:
    """The measured compile seconds in ``folder`` (the acceleration cache folder,
    ``pipelines.speed.accelerate.cache_folder``)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / FILE_NAME

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # damaged (a crash mid-write elsewhere, a hand edit)
            log.debug("ignoring %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(k, str)
                and isinstance(v, int | float) and not isinstance(v, bool)
                and math.isfinite(v) and v >= 0}

    def estimate(self, key: str) -> float | None:
        """Seconds the last compile of ``key`` took, or None when never measured."""
        return self._read().get(key)

    def record(self, key: str, seconds: float) -> None:
        """Remember ``seconds`` for ``key``; never raises (a read-only cache folder only
        loses the estimate)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        with _lock:
            times = self._read()
            times[key] = round(seconds, 2)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle, scratch = tempfile.mkstemp(prefix=".compile_times.", suffix=".tmp",
                                                   dir=self.path.parent)
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as file:
                        json.dump(times, file, indent=1, sort_keys=True)
                    os.replace(scratch, self.path)
                except BaseException:
                    Path(scratch).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                log.debug("could not write %s: %s", self.path, exc)


def compiling_text(estimate: float | None) -> str:
    """The status line while the denoiser compiles: with an earlier measurement of the same
    model, size and mode, about how long; else that it may take minutes."""
    if estimate is None:
        return "preparing the first step (compiling the model for this size: once, may take minutes)…"
    return f"compiling the model for this size, ~{max(1, round(estimate))} s, once…"
