"""``main.py run``: run a workflow once, with progress bars and an exit code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_memory_options,
    add_overrides,
    cancel_on_interrupt,
    count,
    error,
    load_graph,
    memory_options,
)
from app.cli.speed import add_speed_options, speed_options
from app.engine.devices import resolve_device
from app.engine.registry import default_registry


def add_parser(sub: Any) -> None:
    """Declare ``run`` on the subparsers ``sub``."""
    run = sub.add_parser("run", help="run a workflow (.json, or a PNG saved by the app)")
    run.add_argument("workflow", type=Path)
    add_overrides(run)
    run.add_argument("--out", type=Path, default=Path("output"), help="output folder")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    previews = run.add_mutually_exclusive_group()
    previews.add_argument("--previews", action="store_true",
                          help="compute step previews for the event listeners (off by default: "
                          "the progress bars do not show them)")
    previews.add_argument("--no-previews", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--preview-vae-every", type=count, default=0, metavar="N",
                     help="full VAE-decoded preview every N steps (samplers with a vae link); "
                     "turns previews on")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_memory_options(run)
    add_speed_options(run)


def wants_previews(args: argparse.Namespace) -> bool:
    """Step previews only when asked: the progress printer does not show them, so computing
    them would only slow the run."""
    return (args.previews or args.preview_vae_every > 0) and not args.no_previews


def command(args: argparse.Namespace) -> int:
    from app.cli.progress import ProgressPrinter, summary
    from app.engine.executor import Executor
    from app.engine.validation import ValidationError
    from app.engine.workflow import to_document
    from node_api.context import RunOptions

    registry = default_registry()
    graph = load_graph(args.workflow, args.overrides, registry)
    if graph is None:
        return EXIT_INVALID
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        error(str(exc))
        return EXIT_INVALID
    options = RunOptions(device=device, output_dir=args.out, previews=wants_previews(args),
                         preview_vae_every=args.preview_vae_every, workflow=to_document(graph),
                         **memory_options(args), **speed_options(args))
    try:
        with cancel_on_interrupt() as cancel:
            result = Executor(registry).run(
                graph, options=options, listeners=[ProgressPrinter(args.quiet)], cancel=cancel
            )
    except ValidationError as exc:
        error(f"{args.workflow}: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    titles = {n.id: n.title for n in graph.nodes.values()}
    print(summary(result, titles))
    if result.status == "failed":
        error(result.error or "a node failed")
        return EXIT_FAILED
    if result.status == "cancelled":
        error("cancelled")
        return EXIT_CANCELLED
    return EXIT_OK
