"""The weight dtype a denoiser file is loaded in (ComfyUI's ``weight_dtype``): the file's own,
a cast on load, or fp8 storage computed in bfloat16 layer by layer (diffusers'
``enable_layerwise_casting``), shared by the transformer-file readers (SD3, Flux)."""

from __future__ import annotations

from typing import Any

import torch

FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
COMPUTE = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
STORAGE = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


def split_dtype(stored: torch.dtype, dtype: str) -> tuple[torch.dtype, torch.dtype | None]:
    """(compute dtype, fp8 storage dtype or None) for a weight-dtype choice.

    "default": the file's dtype, fp8 files stay fp8 and compute in bfloat16; "float32",
    "bfloat16", "float16": cast on load; "fp8_e4m3fn"/"fp8_e5m2": store in fp8, compute in
    bfloat16.

    Raises:
        ValueError: an unknown choice.
    """
    if dtype in STORAGE:
        return torch.bfloat16, STORAGE[dtype]
    if dtype in COMPUTE:
        return COMPUTE[dtype], None
    if dtype != "default":
        raise ValueError(f"unknown weight dtype {dtype!r}; choose default, "
                         f"{', '.join(COMPUTE)} or {', '.join(STORAGE)}")
    if stored in FP8:
        return torch.bfloat16, stored
    return (stored if stored.is_floating_point else torch.float32), None


def store_fp8(model: Any, storage: torch.dtype | None, compute: torch.dtype) -> Any:
    """Keep ``model``'s weights in ``storage`` (fp8) and upcast each layer for its call; the
    compute dtype is recorded for ``ModelFamily.denoiser_dtype`` (``ModelMixin.dtype`` would
    say the storage dtype). No-op when ``storage`` is None."""
    if storage is not None:
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)
        model.studio_compute_dtype = compute
    return model
