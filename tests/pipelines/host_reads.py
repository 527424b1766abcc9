"""Counting host syncs made by our code: every torch call goes through a ``TorchFunctionMode``
(tensor methods, dunders such as ``__bool__`` and ``__float__``, and ``torch.*`` functions
alike, whichever way they are reached), and the calls that read a tensor's value on the host,
move a tensor between devices or build one from Python data are recorded with the code that
made them. On a GPU each of them is a stream sync or a host-to-device copy.

A call counts as ours when the innermost frame outside torch that made it is in
``pipelines/``; the others (diffusers' schedulers and models) are kept apart in ``theirs``:
diffusers keeps its schedules on the CPU on purpose, so most of its reads are free, and they
are the same in a plain diffusers loop.

Limits, both on the strict side for our code: on a CPU-only machine a read cannot tell a tensor
that would live on the GPU from one that stays on the CPU, so every read of ours counts; and a
``to`` naming a device counts even where the tensor is already there.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

OURS = str(Path(__file__).resolve().parents[2] / "pipelines")
_TORCH = str(Path(torch.__file__).resolve().parent)
_HERE = str(Path(__file__).resolve())

# the value reaches the host (``aten::_local_scalar_dense`` or a copy out): a sync on a GPU
READS = frozenset({
    "item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__",
    "__complex__", "__repr__", "__str__", "__format__", "__array__", "is_nonzero", "nonzero",
    "argwhere", "equal", "allclose", "unique", "unique_consecutive", "masked_select",
})
MOVES = frozenset({"to", "cuda", "pin_memory"})  # with a device: a transfer
BUILDS = frozenset({"tensor", "as_tensor"})  # a tensor from Python data (a copy to the device)


def _device_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    values = (*args[1:], *kwargs.values())
    return any(isinstance(v, (str, torch.device, torch.Tensor)) for v in values)


def _bool_index(args: tuple[Any, ...]) -> bool:
    index = args[1] if len(args) > 1 else None
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


def kind_of(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """What a torch call ``name`` does that a GPU would wait for, or None."""
    if name in READS:
        return name
    if name in MOVES and (name != "to" or _device_arg(args, kwargs)):
        return f"{name}(device)"
    if name in BUILDS and not isinstance(args[0] if args else None, torch.Tensor):
        return f"torch.{name}"
    if name == "__getitem__" and _bool_index(args):
        return "boolean index"
    return None


def _caller() -> tuple[str, int, str]:
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith(_TORCH)
                                 or frame.f_code.co_filename == _HERE):
        frame = frame.f_back
    if frame is None:
        return "?", 0, "?"
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


class HostReads(TorchFunctionMode):
    """Records ``"kind at file:line (function)"`` per host read/move/build while active:
    ``ours`` (made in ``pipelines/``) and ``theirs``."""

    def __init__(self) -> None:
        super().__init__()
        self.ours: list[str] = []
        self.theirs: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        kind = kind_of(getattr(func, "__name__", ""), args, kwargs)
        if kind is not None:
            filename, line, function = _caller()
            mine = filename.startswith(OURS)
            where = Path(filename).name if not mine else Path(filename).relative_to(
                Path(OURS).parent).as_posix()
            (self.ours if mine else self.theirs).append(f"{kind} at {where}:{line} ({function})")
        return func(*args, **kwargs)

    def clear(self) -> None:
        self.ours.clear()
        self.theirs.clear()


def per_step(short: list[str], long: list[str]) -> Counter[str]:
    """The records of the longer run that the shorter one did not have (per-step costs)."""
    return Counter(long) - Counter(short)
