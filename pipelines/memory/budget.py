"""Default budgets of the model cache: ``STUDIO_RAM_BUDGET_GB`` / ``STUDIO_VRAM_BUDGET_GB``
(GiB), else 50% of system RAM and 80% of the current GPU's memory.

A budget is a finite number of GiB, 0 or more: ``inf`` and ``nan`` are rejected (a very large
number is the way to say "no limit"), so a typo never turns into an unlimited or broken cache.
"""

from __future__ import annotations

import math
import os

GIB = 2**30
RAM_ENV, VRAM_ENV = "STUDIO_RAM_BUDGET_GB", "STUDIO_VRAM_BUDGET_GB"


def parse_gigabytes(text: str) -> float:
    """A budget in GiB from text.

    Raises:
        ValueError: not a number, not finite (inf, nan, 1e400) or negative; the message says
            which (the caller adds the variable or flag it came from).
    """
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number of GiB") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number of GiB (a large number means no limit)")
    if value < 0:
        raise ValueError("must be 0 or more GiB")
    return value


def budget_from_env(name: str) -> int | None:
    """Bytes from the environment variable ``name`` (GiB); None when unset or empty.

    Raises:
        ValueError: the value is not a finite number of GiB, 0 or more (names the variable).
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(parse_gigabytes(text) * GIB)
    except ValueError as exc:
        raise ValueError(f"{name}={text!r} {exc} (e.g. {name}=8)") from None


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
    from_env = budget_from_env(RAM_ENV)
    return from_env if from_env is not None else system_memory() // 2


def default_vram_budget() -> int:
    """``STUDIO_VRAM_BUDGET_GB``, else 80% of the current CUDA GPU (0 without one)."""
    from_env = budget_from_env(VRAM_ENV)
    if from_env is not None:
        return from_env
    import torch  # here: parsing a budget (the command line's flags) never imports torch

    if not torch.cuda.is_available():
        return 0
    return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory * 0.8)
