"""The headless command line: each command is a module with ``add_parser`` and ``command``.

Exit codes (app.cli.common): 0 ok, 1 a node failed, 2 invalid workflow or arguments,
130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import batch, export, models, node_docs, run, serve, validate

COMMANDS = {"run": run, "validate": validate, "batch": batch, "export": export,
            "nodes": node_docs, "models": models, "serve": serve}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Diffusion Studio: a node-graph studio for image diffusion. "
        "Without a command it opens the desktop window.",
    )
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="open the window, run the workflow, save a PNG of it and quit")
    parser.add_argument("--workflow", type=Path, default=None,
                        help="workflow to open in the window (default: the last one)")
    sub = parser.add_subparsers(dest="command")
    for module in COMMANDS.values():
        module.add_parser(sub)
    train = sub.add_parser(
        "train-demo", add_help=False,
        help="train the built-in demo model from scratch (train-demo --help for options)")
    train.add_argument("train_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int | None:
    """Run a headless command; returns None when no command was given (open the window)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train-demo"]:  # its own parser (pipelines/demo/train.py) owns the options
        from pipelines.demo.train import main as train_main

        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command in ("run", "batch"):
        from pipelines.speed.startup import import_heavy_stack

        import_heavy_stack()  # GC off while importing, then frozen: seconds off a cold start
    module = COMMANDS.get(args.command)
    return None if module is None else module.command(args)


if __name__ == "__main__":
    sys.exit(main())
