"""Acceleration's code path without the compiler: ``torch.compile`` becomes the identity and
compiling counts as available, so tests and benchmark smoke runs go through
``pipelines.speed.accelerate`` (working copy, fused projections, the compiled-module wrapper)
in seconds. Inductor itself takes minutes on a small CPU; it is tested on its own
(STUDIO_SLOW_TESTS=1) and on a GPU by benchmarks/gpu_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _identity(module: Any, **_options: Any) -> Any:
    return module


@contextmanager
def no_inductor() -> Iterator[None]:
    """Within: ``torch.compile`` returns its module, and ``accelerate.unavailable`` says None."""
    import torch

    from pipelines.speed import accelerate

    saved = torch.compile, accelerate.unavailable
    torch.compile = _identity  # type: ignore[assignment]
    accelerate.unavailable = lambda _device: None  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.compile, accelerate.unavailable = saved
