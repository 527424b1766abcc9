"""Acceleration of the denoiser, a run option: ``off | compile | max``.

``compile``: ``torch.compile`` of the denoiser (inductor, default mode), channels_last
convolution weights on CUDA (``pipelines.speed.channels_last``), fused QKV projections, all on
a weight-sharing copy (``pipelines.speed.fused_qkv``: the cached denoiser itself is never
changed, so "off" and LoRA copies stay exact), attention through PyTorch's SDPA (diffusers'
default processor). ``max`` adds ``mode="max-autotune"``: autotuned kernels and CUDA graphs,
with static shapes (``dynamic=False``): a new size or batch compiles and captures again, once,
up to ``RECOMPILE_LIMIT`` shapes per process. Compiled modules are kept per denoiser and mode for
the process, and inductor's FX-graph/AOT caches live in the user cache folder, so the next
launch reuses the kernels. Where compiling cannot work (no C++ compiler for the CPU, no Triton
for CUDA, Apple MPS) the run goes on uncompiled, with one line saying why (to ``warn``: the
run's Messages). The first call at each new input shape compiles: it is timed into
``pipelines.speed.compile_times`` and announced (with the last such time, when there is one)
to the callback of ``compile_notices``, so the status line can say how long it will take.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pipelines.catalog import ACCELERATE_NAMES

log = logging.getLogger(__name__)
# Shapes ``max`` compiles for before dynamo gives up and runs eager (its default is 8, which a
# session trying sizes and batch counts reaches; each shape is compiled once, then reused).
RECOMPILE_LIMIT = 64
# Told before a first call compiles: the seconds the last compile of that model, size and mode
# took (None: never measured). Set per run by the sampler (``compile_notices``).
_notice: ContextVar[Callable[[float | None], None] | None] = ContextVar("compile_notice",
                                                                       default=None)


@contextmanager
def compile_notices(callback: Callable[[float | None], None]) -> Iterator[None]:
    """While inside, a call of a ``CompiledDenoiser`` that will compile first calls
    ``callback(estimate)`` (on the same thread)."""
    token = _notice.set(callback)
    try:
        yield
    finally:
        _notice.reset(token)


def _shapes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Shapes and dtypes of the tensors of a call (one level into dicts): a new one compiles."""
    values = [*args, *kwargs.values()]
    values += [v for d in list(values) if isinstance(d, dict) for v in d.values()]
    return tuple((tuple(v.shape), str(v.dtype)) for v in values if hasattr(v, "shape"))


def identity(model: Any) -> str:
    """The model's architecture as the compile-time store knows it: family, network class and
    parameter count (other weights of the same architecture compile the same)."""
    denoiser = model.denoiser
    params = sum(p.numel() for p in denoiser.parameters()) if hasattr(denoiser, "parameters") else 0
    return f"{model.family}:{type(denoiser).__name__}:{params}"


def cache_folder() -> Path:
    """Where inductor keeps compiled kernels and graphs between launches."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("diffusion-studio", appauthor=False)) / "torch-compile"


def use_disk_cache() -> None:
    """Point inductor's FX-graph and AOT-autograd caches at ``cache_folder`` (unless the user
    chose a folder with ``TORCHINDUCTOR_CACHE_DIR``)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_folder()))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    import torch._inductor.config as inductor

    inductor.fx_graph_cache = True


def unavailable(device: Any) -> str | None:
    """Why the denoiser cannot be compiled on ``device`` (a torch.device), or None."""
    import torch

    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if device.type == "mps":
        return "torch.compile does not support Apple MPS yet"
    if device.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++", "cl")):
        return "no C++ compiler found (install g++ or clang)"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "Triton is not installed (pip install triton)"
    return None


class CompiledDenoiser:
    """The compiled module, called like the denoiser; anything else (``config``, ``dtype``)
    is the original's. Under CUDA graphs every call starts a new step, so the previous
    step's outputs may be overwritten only once they have been used."""

    def __init__(self, original: Any, compiled: Any, graphs: bool, copy: Any = None,
                 key: tuple[str, str, str] = ("", "", "")) -> None:
        self.original, self.compiled, self.graphs = original, compiled, graphs
        self.copy = copy  # the weight-sharing copy that was compiled (fused, channels_last)
        self.key = key  # (model identity, mode, device type) for the compile-time store
        self.seen: set[tuple[Any, ...]] = set()  # input shapes already compiled for

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.copy is not None:
            from pipelines.speed import channels_last, fused_qkv

            fused_qkv.refresh(self.copy)  # the cache may have moved the shared weights since
            channels_last.refresh(self.copy)
        if self.graphs:
            import torch

            torch.compiler.cudagraph_mark_step_begin()
        shapes = _shapes(args, kwargs)
        if shapes in self.seen:
            return self.compiled(*args, **kwargs)
        return self._first_call(shapes, args, kwargs)

    def _first_call(self, shapes: tuple[Any, ...], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        """A call at new shapes: compiles (or reads inductor's disk cache); timed and kept."""
        from pipelines.speed.compile_times import CompileTimes, compile_key

        model, mode, device = self.key
        size = "x".join(str(n) for n in shapes[0][0]) if shapes else "?"
        times, key = CompileTimes(cache_folder()), compile_key(model, size, mode, device)
        notice = _notice.get()
        if notice is not None:
            notice(times.estimate(key))
        started = time.perf_counter()
        out = self.compiled(*args, **kwargs)
        times.record(key, time.perf_counter() - started)
        self.seen.add(shapes)
        return out

    def tensors(self) -> list[Any]:
        """Every tensor the compiled copy holds (a ``pipelines.memory.companions`` companion
        of the original: the model cache counts those the original does not share)."""
        if self.copy is None:
            return []
        return [*self.copy.parameters(), *self.copy.buffers()]

    def release(self) -> None:
        """Free the copy's own weights (the cache moved the original); the next call
        rebuilds them where the original is then."""
        if self.copy is not None:
            from pipelines.speed import channels_last, fused_qkv

            fused_qkv.release(self.copy)
            channels_last.release(self.copy)

    def __getattr__(self, name: str) -> Any:
        if name in ("original", "compiled", "graphs", "copy", "key", "seen"):
            raise AttributeError(name)  # not set yet (copying, unpickling)
        return getattr(self.original, name)


def _compiled_of(denoiser: Any) -> dict[str, CompiledDenoiser]:
    """The compiled modules of ``denoiser`` by mode: its companions
    (``pipelines.memory.companions``), kept on it so they go when the model cache lets it go,
    counted in its cache entry and released when the cache moves it. A shallow copy of the
    denoiser (a LoRA copy) gets its own, or it would run the original's compiled weights
    without the LoRA."""
    from pipelines.memory.companions import companions

    return companions(denoiser)  # type: ignore[return-value]


def accelerated(model: Any, mode: str, device: Any,
                warn: Callable[[str], None] | None = None) -> Any:
    """``model`` (a ``DiffusionModel``) with its denoiser accelerated in ``mode``.

    Args:
        model: The model; its denoiser is already on ``device``.
        mode: One of ``ACCELERATE_NAMES``.
        device: The torch.device of the run.
        warn: Told why, where compiling is unavailable (default: a logged warning).

    Returns:
        A copy of ``model`` with a ``CompiledDenoiser``, or ``model`` itself for "off" and
        where compiling is unavailable.

    Raises:
        ValueError: An unknown mode.
    """
    if mode not in ACCELERATE_NAMES:
        raise ValueError(f"Unknown acceleration {mode!r}; use one of: {', '.join(ACCELERATE_NAMES)}")
    if mode == "off":
        return model
    reason = unavailable(device)
    if reason is not None:
        text = f"acceleration {mode!r} is not available here ({reason}); running without it"
        (warn or log.warning)(text)
        return model
    denoiser = model.denoiser
    if isinstance(denoiser, CompiledDenoiser):
        return model
    per_mode = _compiled_of(denoiser)
    if mode not in per_mode:
        import torch

        use_disk_cache()
        copy = _working_copy(denoiser, channels_last=device.type == "cuda")
        log.info("compiling the denoiser (once per size; kept on disk in %s)",
                 os.environ["TORCHINDUCTOR_CACHE_DIR"])
        compiled = torch.compile(copy if copy is not None else denoiser, **compile_options(mode))
        per_mode[mode] = CompiledDenoiser(denoiser, compiled, copy=copy,
                                          graphs=mode == "max" and device.type == "cuda",
                                          key=(identity(model), mode, device.type))
    return dataclasses.replace(model, denoiser=per_mode[mode])


def compile_options(mode: str) -> dict[str, Any]:
    """``torch.compile``'s arguments for ``mode`` ("compile" or "max"). ``max`` compiles for
    static shapes (what CUDA graphs capture) and raises dynamo's recompile limit so that a new
    size compiles and captures again instead of falling back to eager."""
    if mode != "max":
        return {"mode": None}
    import torch._dynamo.config as dynamo

    name = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
    setattr(dynamo, name, max(getattr(dynamo, name), RECOMPILE_LIMIT))
    return {"mode": "max-autotune", "dynamic": False}


def _working_copy(denoiser: Any, channels_last: bool) -> Any | None:
    """The weight-sharing copy of ``denoiser`` to compile: fused QKV projections where the
    model can fuse, channels_last convolution weights of its own when ``channels_last``; None
    when neither applies (the denoiser is compiled as it is)."""
    from pipelines.speed.fused_qkv import fused_copy

    copy = fused_copy(denoiser)
    if channels_last:  # faster convolutions on tensor cores
        from pipelines.speed.channels_last import to_channels_last
        from pipelines.structural_copy import shared_copy

        copy = copy if copy is not None else shared_copy(denoiser)
        to_channels_last(copy)
    return copy
