"""``main.py nodes``: the node reference, as a listing, Markdown or the workflow JSON schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.common import EXIT_OK
from app.engine.registry import default_registry


def add_parser(sub: Any) -> None:
    """Declare ``nodes`` on the subparsers ``sub``."""
    nodes = sub.add_parser("nodes", help="list node types with their inputs and outputs")
    nodes.add_argument("--markdown", action="store_true", help="print reference docs")
    nodes.add_argument("--schema", action="store_true", help="print the JSON schema")


def command(args: argparse.Namespace) -> int:
    from app.engine import docs

    registry = default_registry()
    if args.schema:
        print(json.dumps(docs.workflow_schema(registry), indent=2))
    elif args.markdown:
        print(docs.markdown(registry))
    else:
        print(docs.listing(registry))
    return EXIT_OK
