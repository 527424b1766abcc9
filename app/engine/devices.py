"""Which torch device a run uses: ``auto`` picks CUDA, then MPS, then the CPU."""

from __future__ import annotations

from pipelines.errors import StudioError


class DeviceError(StudioError, ValueError):
    """The requested device is not available to torch on this machine."""


def resolve_device(name: str) -> str:
    """``auto`` as this process sees it; an explicit ``cuda`` must exist here.

    Raises:
        DeviceError: ``cuda`` was asked for and torch sees no CUDA GPU.
    """
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA GPU is available to torch here")
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
