"""A model from its parts, as ComfyUI users keep them: the denoiser alone (a transformer file in
``diffusion_models``/``unet``; ComfyUI's UNETLoader) and the text encoders as separate files
(``text_encoders``/``clip``; CLIPLoader, DualCLIPLoader, TripleCLIPLoader), through the model
cache. Which family reads a file is the header's answer (``pipelines.loading.detect``); the
family's ``load_denoiser_file`` / ``load_text_encoder_files`` hooks build the networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.catalog import WEIGHT_DTYPE_NAMES
from pipelines.errors import ModelLoadError
from pipelines.families import ROLES, ModelFamily, get_family, part_file_families, text_file_family
from pipelines.memory.cache import ModelCache, default_cache
from pipelines.memory.placement import estimate_bytes, offloads_after_use, place_text_encoders
from pipelines.memory.precision import choose_dtypes
from pipelines.values import DiffusionModel, TextEncoder

WEIGHT_DTYPES = WEIGHT_DTYPE_NAMES
_PRECISION_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# bytes per weight once loaded, for the cache's room-making estimate ("default": a guess)
_SIZES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


def denoiser_families() -> tuple[ModelFamily, ...]:
    return part_file_families("load_denoiser_file")


def denoiser_family(path: Path) -> ModelFamily:
    """The family whose ``load_denoiser_file`` reads ``path`` (from its header).

    Raises:
        ModelLoadError: not a denoiser file of a family that loads one alone.
    """
    from pipelines.loading.detect import detect

    found = detect(path)
    family = get_family(found.family) if found.family else None
    if found.kind in ("unet", "checkpoint") and family in denoiser_families():
        return family
    what = found.describe()
    loadable = ", ".join(f.label for f in denoiser_families())
    raise ModelLoadError(path, f"Not a diffusion model file that loads alone (found: {what}). "
                         f"Load Diffusion Model reads {loadable} transformers; load other "
                         "models with Load Checkpoint.", hint="")


def _weight_dtype(weight_dtype: str, device: str, precision: str) -> str:
    """The family hook's dtype for a choice: "default" follows an explicit run precision and
    computes in float32 on the CPU (half precision there is slow and partly unsupported)."""
    if weight_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weight dtype {weight_dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    if weight_dtype != "default":
        return weight_dtype
    if precision in _PRECISION_NAMES:
        return _PRECISION_NAMES[precision]
    return "float32" if torch.device(device).type == "cpu" else "default"


def _where(kind: str, paths: list[Path], device: str, vram_mode: str, dtypes: dict[str, Any],
           cache: ModelCache, *extra: Any) -> tuple[str, tuple, Any]:
    from pipelines.loading.cached import _where as where_of
    from pipelines.memory.keys import file_fingerprint

    def estimate() -> int:
        return sum(estimate_bytes(p, dtypes) for p in paths)

    others = tuple((str(p.resolve()), *file_fingerprint(p)) for p in paths[1:])
    where, key = where_of(kind, paths[0], device, vram_mode, estimate, cache, *others, *extra)
    return where, key, estimate


def load_diffusion_model_cached(path: str | Path, weight_dtype: str = "default",
                                device: str = "cpu", precision: str = "auto",
                                vram_mode: str = "auto", cache: ModelCache | None = None,
                                ) -> DiffusionModel:
    """The denoiser of one file as a ``DiffusionModel``, through the cache.

    Raises:
        ModelLoadError: not a loadable denoiser file; ValueError: an unknown weight dtype.
    """
    path, cache = Path(path), cache or default_cache()
    family = denoiser_family(path)
    dtype = _weight_dtype(weight_dtype, device, precision)
    sizing = dict.fromkeys(ROLES, _SIZES.get(dtype, torch.bfloat16))
    where, key, estimate = _where("diffusion_model", [path], device, vram_mode, sizing, cache,
                                  dtype)

    def load() -> DiffusionModel:
        model = family.load_denoiser_file(path, dtype)
        model.denoiser.to(where)
        return model

    return cache.get_or_load(key, load, where, estimate)


def load_text_encoders_cached(paths: list[str | Path], kind: str, device: str = "cpu",
                              precision: str = "auto", vram_mode: str = "auto",
                              cache: ModelCache | None = None) -> TextEncoder:
    """The text encoders of ``kind`` ("sd3", "flux", ...) from separate files, any order,
    through the cache; they compute in the run's text-encoder precision.

    Raises:
        ModelLoadError: a file is not a text encoder, or the set does not fit the type;
        ValueError: an unknown type.
    """
    files, cache = [Path(p) for p in paths], cache or default_cache()
    if not files:
        raise ValueError("no text encoder file given")
    family = text_file_family(kind)
    dtype = choose_dtypes(device, family.id, precision)["text_encoder"]
    where, key, estimate = _where("text_encoders", files, device, vram_mode,
                                  dict.fromkeys(ROLES, dtype), cache, family.id, str(dtype))

    def load() -> TextEncoder:
        clip = family.load_text_encoder_files(files)
        for _, encoder in clip.present():  # T5 is cast on the CPU, where it is kept
            home = "cpu" if offloads_after_use(encoder, where, vram_mode) else where
            encoder.to(device=home, dtype=dtype)
        return place_text_encoders(clip, where, vram_mode)

    return cache.get_or_load(key, load, where, estimate)
