"""Speed options of ``run`` and ``batch``: torch threads and denoiser acceleration."""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.catalog import ACCELERATE_NAMES


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count (0 or more)")
    return value


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--accelerate``."""
    parser.add_argument("--threads", type=_threads, default=None, metavar="N",
                        help="torch CPU threads (default: every core; 0: torch's own choice)")
    parser.add_argument("--accelerate", choices=ACCELERATE_NAMES, default=None,
                        help="compile the denoiser: compile = torch.compile (+ channels_last "
                        "on CUDA), max = also max-autotune and CUDA graphs; the first run at a "
                        "size compiles, later ones reuse the disk cache (default: the "
                        "workflow's setting, else off)")


def speed_options(args: argparse.Namespace) -> dict[str, Any]:
    """The RunOptions fields of ``add_speed_options``."""
    from pipelines.speed.threads import default_threads

    threads = default_threads("cli") if args.threads is None else args.threads
    return {"threads": threads, "accelerate": args.accelerate}
