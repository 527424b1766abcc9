"""A run's options completed from its workflow: the per-workflow acceleration default, and
torch's thread count applied."""

from __future__ import annotations

import dataclasses
from typing import Any

from node_api.context import RunOptions
from pipelines.catalog import ACCELERATE_NAMES


def workflow_accelerate(metadata: dict[str, Any]) -> str:
    """The workflow's own acceleration default (metadata ``"accelerate"``), "off" when it has
    none or an unknown one."""
    value = metadata.get("accelerate")
    return value if value in ACCELERATE_NAMES else "off"


def run_options(options: RunOptions, metadata: dict[str, Any]) -> RunOptions:
    """``options`` with ``accelerate`` resolved (None: the workflow's default); applies
    ``threads`` to torch when set (it is process-wide)."""
    if options.threads:
        from pipelines.speed.threads import apply_threads

        apply_threads(options.threads)
    if options.accelerate is None:
        options = dataclasses.replace(options, accelerate=workflow_accelerate(metadata))
    return options
