"""The compute device for runs, its status-bar description and memory, and the model warm-up.

Qt-free; torch is imported lazily (on the probe thread), never by the memory readout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

GIB = 2**30


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


def _process_and_total_ram() -> tuple[int, int] | None:
    """Resident memory of this process and the system's total RAM, in bytes."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return psutil.Process().memory_info().rss, psutil.virtual_memory().total
    try:  # Linux without psutil
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/meminfo") as meminfo:
            total = next(int(line.split()[1]) * 1024 for line in meminfo
                         if line.startswith("MemTotal:"))
        return rss, total
    except (OSError, ValueError, StopIteration):
        return None


def memory_text(device: str) -> str:
    """E.g. ``VRAM 2.1 / 139.8 GiB`` on CUDA, ``RAM 0.9 / 15.5 GiB`` otherwise (process/total).

    Cheap enough for a timer on the GUI thread: reads torch's counters only when torch is
    already imported (the probe imports it on its own thread).
    """
    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_initialized():
        total = torch.cuda.get_device_properties(0).total_memory
        return f"VRAM {_gib(torch.cuda.memory_allocated())} / {_gib(total)} GiB"
    ram = _process_and_total_ram()
    return "" if ram is None else f"RAM {_gib(ram[0])} / {_gib(ram[1])} GiB"


def _gib(size: int) -> str:
    return f"{size / GIB:.2f}" if size < GIB else f"{size / GIB:.1f}"


# What a first run would otherwise import on the worker thread. Importing holds the GIL in
# long stretches (extension modules load whole), so doing it while the user is still looking
# at the window keeps the first run's event loop as smooth as later ones.
WARM_MODULES = (
    "torch",
    "pipelines.loading.checkpoint", "pipelines.text.conditioning", "pipelines.sampling.denoise", "pipelines.sampling.samplers",
    "pipelines.sampling.previews", "pipelines.sampling.vae", "pipelines.image", "pipelines.sampling.forward",
)
LOADING_TORCH = "loading torch…"
LOADING_LIBRARIES = "loading the model libraries (diffusers, transformers)…"
STARTING_CUDA = "starting CUDA…"
# The first run's first matmul would otherwise create the CUDA context (~0.5-2 s) and the
# cuBLAS handle and workspace, and load their kernels, inside the Sampler's first step.
CUDA_WARM_DEVICE = "cuda"
WARM_CLASSES = (
    ("diffusers", ("UNet2DConditionModel", "AutoencoderKL", "EulerDiscreteScheduler",
                   "DDIMScheduler")),
    ("transformers", ("CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer")),
)


def warm_up(report: Callable[[str], object] | None = None) -> list[str]:
    """Import the model stack a run needs (call on a background thread); ``report`` hears
    what is loading now, for the status bar.

    Returns:
        What could not be imported (best effort: a missing optional library is no error).
    """
    import gc
    import importlib

    missing: list[str] = []
    # The imports leave millions of long-lived objects; the cyclic GC's next full pass over
    # them holds the GIL for ~0.3 s, which would land in the first run's model load. So no
    # collection while importing, then move everything imported out of the GC's sight.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _import_all(importlib, missing, report or (lambda _text: None))
        if "torch" not in missing and not warm_cuda(report or (lambda _text: None)):
            missing.append("torch.cuda")
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return missing


def _import_all(importlib: Any, missing: list[str], report: Callable[[str], object]) -> None:
    report(LOADING_TORCH)
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a broken optional library must not stop the window)
            missing.append(name)
    report(LOADING_LIBRARIES)
    for library, names in WARM_CLASSES:
        try:
            module = importlib.import_module(library)
            for name in names:
                getattr(module, name)  # lazy libraries load a class's module on first use
        except Exception:  # noqa: BLE001
            missing.append(library)


def warm_cuda(report: Callable[[str], object]) -> bool:
    """Where torch sees a CUDA GPU: create its context and warm cuBLAS with a tiny fp16 matmul
    (call on the warm-up thread). Nothing happens without CUDA.

    Returns:
        False when CUDA is there but could not start (the first run will say why).
    """
    import torch

    if not torch.cuda.is_available():
        return True
    report(STARTING_CUDA)
    try:
        torch.cuda.init()
        square = torch.ones(64, 64, device=CUDA_WARM_DEVICE, dtype=torch.float16)
        (square @ square).sum()
        torch.cuda.synchronize()
    except Exception:  # noqa: BLE001 (a broken driver must not stop the window)
        return False
    return True
