"""``main.py validate``: check a workflow without running it (exit 2 if invalid)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import EXIT_INVALID, EXIT_OK, add_overrides, error, load_graph
from app.engine.registry import default_registry


def add_parser(sub: Any) -> None:
    """Declare ``validate`` on the subparsers ``sub``."""
    validate = sub.add_parser("validate", help="check a workflow without running it")
    validate.add_argument("workflow", type=Path)
    add_overrides(validate)


def command(args: argparse.Namespace) -> int:
    from app.engine.validation import validate

    registry = default_registry()
    graph = load_graph(args.workflow, args.overrides, registry)
    if graph is None:
        return EXIT_INVALID
    problems = validate(graph, registry)
    if problems:
        error(f"{args.workflow}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.workflow}: ok ({len(graph.nodes)} nodes, {len(graph.edges)} links)")
    return EXIT_OK
