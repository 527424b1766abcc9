"""Cold start of a headless run: import the heavy stack with the garbage collector off, then
freeze what it built, so neither the imports nor the exit walk ~400k long-lived objects."""

from __future__ import annotations

import gc
import importlib

# What a sampling run imports anyway; diffusers' submodules by name (the package's lazy
# top level resolves a name through diffusers.utils, which pulls in torch._dynamo).
HEAVY_MODULES: tuple[str, ...] = (
    "torch",
    "diffusers.models.unets.unet_2d_condition",
    "diffusers.models.autoencoders.autoencoder_kl",
    "diffusers.schedulers.scheduling_euler_discrete",
    "transformers.models.clip.modeling_clip",
)


def import_heavy_stack(modules: tuple[str, ...] = HEAVY_MODULES) -> None:
    """Import ``modules`` with GC off, then ``gc.freeze()`` everything alive (module objects
    live until exit: collecting them is wasted work, at import time and at shutdown). A module
    that fails to import is left for the node that needs it to report."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
