"""Torch's intra-op threads, chosen deliberately: on a loaded machine one thread too many can
make a small model many times slower (spinning OpenMP workers fight for the cores)."""

from __future__ import annotations

import os


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(front_end: str) -> int:
    """Threads for a front end: every core for the command line (nothing else to keep
    responsive), one fewer in the window (its event loop and previews need a core).

    Args:
        front_end: "cli" or "gui".
    """
    return cores() if front_end == "cli" else max(1, cores() - 1)


def apply_threads(threads: int) -> None:
    """``torch.set_num_threads(threads)`` when it changes anything; 0 leaves torch's choice.

    Raises:
        ValueError: A negative count.
    """
    if threads < 0:
        raise ValueError(f"threads must be 0 (automatic) or more, got {threads}")
    if threads == 0:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
