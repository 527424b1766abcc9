"""Which torch device a run uses: ``auto`` picks CUDA, then MPS, then the CPU."""

from __future__ import annotations

from pipelines.errors import StudioError


class DeviceError(StudioError, ValueError):
    """The requested device is not available to torch on this machine."""


def resolve_device(name: str) -> str:
    """``auto`` as this process sees it; an explicit ``cuda`` must exist here.

    Raises:
        DeviceError: ``cuda`` or ``mps`` was asked for and torch cannot use it here.
    """
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA GPU is available to torch here")
    if name == "mps" and not _mps_available(torch):
        raise DeviceError("--device mps: Apple's MPS backend is not available to torch here")
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available(torch):
        return "mps"
    return "cpu"


def _mps_available(torch: object) -> bool:
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    return bool(mps is not None and mps.is_available())
