"""Implementations of the CLI subcommands (imported only when one is chosen)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.cli.main import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, EXIT_OK
from app.engine.devices import resolve_device
from app.engine.graph import Graph
from app.engine.registry import Registry, default_registry
from node_api.context import CancelToken


def _error(message: str) -> None:
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
    from app.engine.workflow import WorkflowError, load_workflow

    try:
        graph = load_workflow(path, registry)
        return apply_overrides(graph, registry, overrides)
    except WorkflowError as exc:
        _error(str(exc))
    except OverrideError as exc:
        _error(f"{path}: bad --set:\n{exc}")
    return None


def wants_previews(args: argparse.Namespace) -> bool:
    """Step previews only when asked: the progress printer does not show them, so computing
    them would only slow the run."""
    return (args.previews or args.preview_vae_every > 0) and not args.no_previews


def run_command(args: argparse.Namespace) -> int:
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
        _error(str(exc))
        return EXIT_INVALID
    from app.cli.main import memory_options
    from app.cli.speed import speed_options

    options = RunOptions(device=device, output_dir=args.out, previews=wants_previews(args),
                         preview_vae_every=args.preview_vae_every, workflow=to_document(graph),
                         **memory_options(args), **speed_options(args))
    try:
        with cancel_on_interrupt() as cancel:
            result = Executor(registry).run(
                graph, options=options, listeners=[ProgressPrinter(args.quiet)], cancel=cancel
            )
    except ValidationError as exc:
        _error(f"{args.workflow}: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    titles = {n.id: n.title for n in graph.nodes.values()}
    print(summary(result, titles))
    if result.status == "failed":
        _error(result.error or "a node failed")
        return EXIT_FAILED
    if result.status == "cancelled":
        _error("cancelled")
        return EXIT_CANCELLED
    return EXIT_OK


def validate_command(args: argparse.Namespace) -> int:
    from app.engine.validation import validate

    registry = default_registry()
    graph = load_graph(args.workflow, args.overrides, registry)
    if graph is None:
        return EXIT_INVALID
    problems = validate(graph, registry)
    if problems:
        _error(f"{args.workflow}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.workflow}: ok ({len(graph.nodes)} nodes, {len(graph.edges)} links)")
    return EXIT_OK


def nodes_command(args: argparse.Namespace) -> int:
    from app.engine import docs

    registry = default_registry()
    if args.schema:
        print(json.dumps(docs.workflow_schema(registry), indent=2))
    elif args.markdown:
        print(docs.markdown(registry))
    else:
        print(docs.listing(registry))
    return EXIT_OK


def models_command(args: argparse.Namespace) -> int:
    from pipelines.errors import ModelLoadError
    from pipelines.loading.detect import detect
    from pipelines.loading.folders import KINDS, ModelFolderConfigError, config_path, roots, scan

    try:
        for kind in KINDS:
            print(f"{kind}:")
            for folder in roots(kind):
                print(f"  folder {folder}{'' if folder.is_dir() else '  (missing)'}")
            for path in scan(kind):
                try:
                    what = detect(path).describe()
                except ModelLoadError as exc:
                    what = f"unreadable: {exc.message}"
                print(f"    {path.name:<40} {what}")
    except ModelFolderConfigError as exc:
        _error(str(exc))
        return EXIT_INVALID
    print(f"(add ComfyUI / AUTOMATIC1111 folders in {config_path()})")
    return EXIT_OK
