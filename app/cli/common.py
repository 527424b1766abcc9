"""What every CLI command shares: exit codes, one-line errors, Ctrl+C handling, loading a
workflow with --set overrides, and the memory options. A leaf: it imports no other command.

Exit codes: 0 ok, 1 a node failed, 2 invalid workflow or arguments, 130 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.context import CancelToken

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


@contextlib.contextmanager
def cancel_on_interrupt() -> Iterator[CancelToken]:
    """Within the block, the first Ctrl+C cancels the returned token (the run stops at its
    next step); a second raises KeyboardInterrupt. The previous handler comes back after."""
    cancel = CancelToken()

    def on_interrupt(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        print("\ncancelling (Ctrl+C again to abort at once)...", file=sys.stderr)
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def load_graph(path: Path, overrides: list[str], registry: Registry) -> Graph | None:
    """Load a workflow and apply overrides; prints the problem and returns None on error."""
    from app.engine.overrides import OverrideError, apply_overrides
    from app.engine.workflow import WorkflowError
    from app.interop.open import import_warnings, open_workflow

    try:
        graph = open_workflow(path, registry)
        for line in import_warnings(graph):  # a broken branch: muted, one line each
            print(f"warning: {path}: {line}", file=sys.stderr)
        return apply_overrides(graph, registry, overrides)
    except WorkflowError as exc:
        error(str(exc))
    except OverrideError as exc:
        error(f"{path}: bad --set:\n{exc}")
    return None


def count(text: str) -> int:
    """A whole number, 0 or more (argparse names the flag in its error)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is below 0")
    return value


def gigabytes(text: str) -> float:
    """A budget flag's value: a finite number of GiB, 0 or more (argparse names the flag)."""
    from pipelines.memory.budget import parse_gigabytes  # torch-free, like --help

    try:
        return parse_gigabytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """Precision, VRAM mode and model-cache budgets (run and batch)."""
    from pipelines.catalog import PRECISION_NAMES, VRAM_MODE_NAMES

    choices = PRECISION_NAMES
    parser.add_argument("--precision", default="auto", choices=choices,
                        help="UNet and text encoder weights: auto = fp32 on the CPU, fp16 on "
                        "CUDA/MPS")
    parser.add_argument("--vae-precision", default="auto", choices=choices,
                        help="VAE weights: auto follows --precision, but keeps SDXL's VAE "
                        "(and any VAE on MPS) in fp32")
    parser.add_argument("--vram", default="auto", choices=VRAM_MODE_NAMES,
                        help="low: keep models in RAM and move only the network in use to "
                        "the GPU; auto: low when a model does not fit in free VRAM")
    parser.add_argument("--ram-budget", type=gigabytes, metavar="GB",
                        help="RAM for cached models, in GiB (default: $STUDIO_RAM_BUDGET_GB "
                        "or half the system memory); least recently used go first")
    parser.add_argument("--vram-budget", type=gigabytes, metavar="GB",
                        help="GPU memory for cached models, in GiB (default: "
                        "$STUDIO_VRAM_BUDGET_GB or 80%% of the GPU)")


def memory_options(args: argparse.Namespace) -> dict[str, str]:
    """Apply the cache budgets of ``add_memory_options``; returns the RunOptions fields."""
    if args.ram_budget is not None or args.vram_budget is not None:
        import os

        from pipelines.memory.budget import GIB
        from pipelines.memory.cache import default_cache

        # also for processes started from here (batch --cluster workers)
        for name, value in (("STUDIO_RAM_BUDGET_GB", args.ram_budget),
                            ("STUDIO_VRAM_BUDGET_GB", args.vram_budget)):
            if value is not None:
                os.environ[name] = repr(float(value))

        default_cache().set_budgets(
            ram=None if args.ram_budget is None else int(args.ram_budget * GIB),
            vram=None if args.vram_budget is None else int(args.vram_budget * GIB))
    return {"precision": args.precision, "vae_precision": args.vae_precision,
            "vram_mode": args.vram}


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.FIELD=VALUE",
        help="change a value; NODE is a node id or title (repeatable)",
    )
