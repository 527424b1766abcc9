"""``main.py models``: the model folders and what is in them, with each file's family."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import EXIT_INVALID, EXIT_OK, error


def add_parser(sub: Any) -> None:
    """Declare ``models`` on the subparsers ``sub``."""
    sub.add_parser("models", help="list the models found in the model folders, with their family")


def command(args: argparse.Namespace) -> int:
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
        error(str(exc))
        return EXIT_INVALID
    print(f"(add ComfyUI / AUTOMATIC1111 folders in {config_path()})")
    return EXIT_OK
