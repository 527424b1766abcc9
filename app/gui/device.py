"""The compute device for runs and its one-line description for the status bar (lazy torch)."""

from __future__ import annotations


def resolve_device() -> str:
    """``cuda`` when torch sees a GPU, else ``mps`` on Apple silicon, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def describe_device() -> str:
    """E.g. ``CUDA: NVIDIA H200 (139.8 GiB)`` or ``CPU (16 threads)``."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "MPS (Apple GPU)"
    return f"CPU ({torch.get_num_threads()} threads)"
