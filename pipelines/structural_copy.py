"""Structural copies of networks: new module objects that share every parameter and buffer
with the original, so a copy can swap layers or weights (fused projections, merged weights,
hypernetwork wrappers) while the cached original stays exactly as loaded."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch


def shared_copy(net: torch.nn.Module) -> Any:
    """A copy of ``net``'s module tree sharing all its tensors; attributes named
    ``_studio*`` (compiled modules, caches) are left behind."""
    memo: dict[int, Any] = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    for name, value in vars(net).items():
        if name.startswith("_studio"):
            memo[id(value)] = None
    return copy.deepcopy(net, memo)
