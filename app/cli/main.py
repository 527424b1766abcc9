"""The headless command line: run, validate and list nodes; exit codes say what happened.

Exit codes: 0 ok, 1 a node failed, 2 invalid workflow or arguments, 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130


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

    run = sub.add_parser("run", help="run a workflow (.json, or a PNG saved by the app)")
    run.add_argument("workflow", type=Path)
    _add_overrides(run)
    run.add_argument("--out", type=Path, default=Path("output"), help="output folder")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    previews = run.add_mutually_exclusive_group()
    previews.add_argument("--previews", action="store_true",
                          help="compute step previews for the event listeners (off by default: "
                          "the progress bars do not show them)")
    previews.add_argument("--no-previews", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--preview-vae-every", type=int, default=0, metavar="N",
                     help="full VAE-decoded preview every N steps (samplers with a vae link); "
                     "turns previews on")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_memory_options(run)
    from app.cli.speed import add_speed_options

    add_speed_options(run)

    validate = sub.add_parser("validate", help="check a workflow without running it")
    validate.add_argument("workflow", type=Path)
    _add_overrides(validate)

    from app.cli.batch import add_batch_parser
    from app.cli.export import add_export_parser

    add_batch_parser(sub)
    add_export_parser(sub)

    nodes = sub.add_parser("nodes", help="list node types with their inputs and outputs")
    nodes.add_argument("--markdown", action="store_true", help="print reference docs")
    nodes.add_argument("--schema", action="store_true", help="print the JSON schema")

    sub.add_parser("models", help="list the models found in the model folders, with their family")

    train = sub.add_parser(
        "train-demo", add_help=False,
        help="train the built-in demo model from scratch (train-demo --help for options)")
    train.add_argument("train_args", nargs=argparse.REMAINDER)
    return parser


def _gigabytes(text: str) -> float:
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
    parser.add_argument("--ram-budget", type=_gigabytes, metavar="GB",
                        help="RAM for cached models, in GiB (default: $STUDIO_RAM_BUDGET_GB "
                        "or half the system memory); least recently used go first")
    parser.add_argument("--vram-budget", type=_gigabytes, metavar="GB",
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


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.FIELD=VALUE",
        help="change a value; NODE is a node id or title (repeatable)",
    )


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
    if args.command == "run":
        from app.cli.commands import run_command

        return run_command(args)
    if args.command == "validate":
        from app.cli.commands import validate_command

        return validate_command(args)
    if args.command == "batch":
        from app.cli.batch import batch_command

        return batch_command(args)
    if args.command == "export":
        from app.cli.export import export_command

        return export_command(args)
    if args.command == "nodes":
        from app.cli.commands import nodes_command

        return nodes_command(args)
    if args.command == "models":
        from app.cli.commands import models_command

        return models_command(args)
    return None


if __name__ == "__main__":
    sys.exit(main())
