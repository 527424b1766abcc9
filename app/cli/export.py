"""``main.py export``: write a workflow in another application's format (ComfyUI API)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import EXIT_INVALID, EXIT_OK, error, load_graph


def add_parser(sub: Any) -> None:
    """Declare the ``export`` subcommand on the subparsers ``sub``."""
    export = sub.add_parser("export", help="write a workflow in ComfyUI's API format")
    export.add_argument("workflow", type=Path)
    export.add_argument("--format", default="comfy-api", choices=("comfy-api",))
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    export.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="NODE.FIELD=VALUE", help="change a value before exporting")


def command(args: argparse.Namespace) -> int:
    from app.engine.registry import default_registry
    from app.interop.comfy_export import ExportError, to_comfy_api
    from node_api.files import atomic_write

    registry = default_registry()
    graph = load_graph(args.workflow, args.overrides, registry)
    if graph is None:
        return EXIT_INVALID
    try:
        prompt = to_comfy_api(graph, registry)
    except ExportError as exc:
        error(f"{args.workflow}: cannot export to ComfyUI: {exc}")
        return EXIT_INVALID
    text = json.dumps(prompt, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    problem = _not_writable(args.output)
    if problem is None:
        try:
            atomic_write(args.output, text.encode("utf-8"))
        except OSError as exc:
            problem = f"cannot be written ({exc.strerror or exc})"
    if problem is not None:
        error(f"{args.output}: {problem}")
        return EXIT_INVALID
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _not_writable(path: Path) -> str | None:
    """Why ``path`` must not be replaced by the export (a folder, FIFO or device the user
    has there is never replaced by a file), or None."""
    import os
    import stat

    from pipelines.loading.file_policy import describe_mode

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be written ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else f"is {describe_mode(mode)}, not a file to write"
