"""Loading through the process-wide model cache, with automatic precision and VRAM placement.

What the loader nodes call: a checkpoint loaded once is reused by every later run (and by
every workflow that names it) as long as its file, dtypes and storage device are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from pipelines.families import ROLES
from pipelines.memory.cache import ModelCache, default_cache
from pipelines.memory.keys import model_key
from pipelines.memory.placement import estimate_bytes, place_text_encoders, storage_device
from pipelines.memory.precision import checkpoint_dtypes, choose_dtypes, dtype_names


def _where(kind: str, path: Path, device: str, vram_mode: str, estimate: Callable[[], int],
           cache: ModelCache, *extra: Any) -> tuple[str, tuple]:
    """The storage device and cache key; under "auto" a copy already cached (on the device
    or, for a CUDA run, in low-VRAM form on the CPU) is preferred to a new decision, so free
    memory changing between runs never makes the same model load twice. A CPU copy is only a
    candidate where "auto" could have chosen it (CUDA): an MPS run never runs on one."""
    if vram_mode == "auto":
        low = ("cpu",) if torch.device(device).type == "cuda" else ()
        for candidate in (device, *low):
            key = model_key(kind, path, candidate, *extra)
            if key in cache:
                return candidate, key
    where = storage_device(device, vram_mode, estimate(), cache)
    return where, model_key(kind, path, where, *extra)


def load_checkpoint_cached(
    path: str | Path, device: str = "cpu", precision: str = "auto",
    vae_precision: str = "auto", vram_mode: str = "auto", cache: ModelCache | None = None,
) -> tuple[Any, Any, Any]:
    """``pipelines.loading.checkpoint.load_checkpoint`` through the cache.

    Args:
        path: A diffusers folder or a single-file checkpoint.
        device: The run device.
        precision, vae_precision: See ``pipelines.memory.precision.choose_dtypes``.
        vram_mode: See ``pipelines.memory.placement`` ("auto", "normal", "low").
        cache: Default: the process-wide cache.

    Returns:
        ``(model, clip, vae)``; the same objects as earlier loads of the same file/settings.

    Raises:
        ModelLoadError: the file or folder cannot be loaded.
        ValueError: an unknown precision or VRAM mode.
    """
    from pipelines.loading.checkpoint import load_checkpoint

    path, cache = Path(path), cache or default_cache()
    dtypes = checkpoint_dtypes(path, device, precision, vae_precision)
    estimate = partial(estimate_bytes, path, dtypes)  # headers are read only if needed
    where, key = _where("checkpoint", path, device, vram_mode, estimate, cache,
                        dtype_names(dtypes))
    def load() -> tuple[Any, Any, Any]:  # T5 encoders stay on the CPU between encodes
        model, clip, vae = load_checkpoint(path, device=where, dtype=dtypes, vram_mode=vram_mode)
        return model, place_text_encoders(clip, where, vram_mode), vae

    return cache.get_or_load(key, load, where, estimate)


def load_vae_cached(
    path: str | Path, device: str = "cpu", scaling: str = "auto", precision: str = "auto",
    vae_precision: str = "auto", vram_mode: str = "auto", cache: ModelCache | None = None,
) -> Any:
    """``pipelines.loading.checkpoint.load_vae`` through the cache (dtype as a checkpoint's VAE
    of the family its scaling names gets: SDXL-scaled VAEs stay float32 under "auto" on CUDA)."""
    from pipelines.families import standalone_vae_family
    from pipelines.loading.checkpoint import load_vae

    path, cache = Path(path), cache or default_cache()
    family = standalone_vae_family(path, scaling)
    dtype = choose_dtypes(device, family, precision, vae_precision)["vae"]
    estimate = partial(estimate_bytes, path, dict.fromkeys(ROLES, dtype))
    where, key = _where("vae", path, device, vram_mode, estimate, cache, scaling,
                        str(dtype).removeprefix("torch."))
    return cache.get_or_load(
        key, lambda: load_vae(path, device=where, scaling=scaling, dtype=dtype), where, estimate)


def load_upscaler_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                         cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.upscalers.load_upscaler`` through the cache (always float32: small nets)."""
    from pipelines.loading.upscalers import load_upscaler

    path, cache = Path(path), cache or default_cache()
    estimate = partial(estimate_bytes, path, dict.fromkeys(ROLES, torch.float32))
    where, key = _where("upscaler", path, device, vram_mode, estimate, cache)
    return cache.get_or_load(key, lambda: load_upscaler(path, device=where), where, estimate)


def load_prior_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                      cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.prior.load_prior`` through the cache (float32: priors are small and
    their CLIP embeddings feed a decoder that was trained on full-precision ones).

    Returns:
        ``(prior, clip_vision)``.
    """
    from pipelines.loading.prior import load_prior

    return _load_float32("prior", path, device, vram_mode, cache, load_prior)


def load_unclip_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                       cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.unclip.load_unclip`` through the cache (float32).

    Returns:
        ``(prior, unclip_decoder)``.
    """
    from pipelines.loading.unclip import load_unclip

    return _load_float32("unclip", path, device, vram_mode, cache, load_unclip)


def load_clip_vision_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                            cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.clip_vision.load_clip_vision`` through the cache (float32)."""
    from pipelines.loading.clip_vision import load_clip_vision

    return _load_float32("clip_vision", path, device, vram_mode, cache, load_clip_vision)


def _load_float32(kind: str, path: str | Path, device: str, vram_mode: str,
                  cache: ModelCache | None, load: Any) -> Any:
    """``load(path, device=...)`` through the cache, its networks counted in float32."""
    path, cache = Path(path), cache or default_cache()
    estimate = partial(estimate_bytes, path, dict.fromkeys(ROLES, torch.float32))
    where, key = _where(kind, path, device, vram_mode, estimate, cache)
    return cache.get_or_load(key, lambda: load(path, device=where), where, estimate)


def load_depth_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                      cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.depth.load_depth_model`` through the cache (float32)."""
    from pipelines.loading.depth import load_depth_model

    return _load_float32("depth", path, device, vram_mode, cache, load_depth_model)


def load_pose_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                     cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.pose.load_pose_model`` through the cache (float32)."""
    from pipelines.loading.pose import load_pose_model

    return _load_float32("pose", path, device, vram_mode, cache, load_pose_model)


def load_person_detector_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                                cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.pose.load_person_detector`` through the cache (float32)."""
    from pipelines.loading.pose import load_person_detector

    return _load_float32("person_detector", path, device, vram_mode, cache,
                         load_person_detector)


def load_controlnet_cached(path: str | Path, device: str = "cpu", precision: str = "auto",
                           vram_mode: str = "auto", cache: ModelCache | None = None,
                           base: torch.nn.Module | None = None) -> Any:
    """``pipelines.loading.controlnet.load_controlnet`` through the cache, in the dtype a
    denoiser gets under ``precision`` (the residuals are cast to the UNet's dtype per step).
    ``base``: the UNet of a "diff" ControlNet; the entry is keyed by it (a weak reference, so a
    new UNet at a reused address never hits the entry of a dropped one)."""
    import weakref

    from pipelines.loading.controlnet import load_controlnet

    path, cache = Path(path), cache or default_cache()
    dtype = choose_dtypes(device, "unknown", precision)["denoiser"]
    estimate = partial(estimate_bytes, path, dict.fromkeys(ROLES, dtype))
    extra = (weakref.ref(base),) if base is not None else ()
    where, key = _where("controlnet", path, device, vram_mode, estimate, cache,
                        str(dtype).removeprefix("torch."), *extra)
    return cache.get_or_load(
        key, lambda: load_controlnet(path, device=where, dtype=dtype, base=base), where, estimate)


def load_ip_adapter_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                           cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.ip_adapter.load_ip_adapter`` through the cache: its float32 weights
    stay on the CPU (each run casts a converted copy to the run device) and count against the
    RAM budget."""
    from pipelines.loading.ip_adapter import load_ip_adapter

    path, cache = Path(path), cache or default_cache()
    estimate = partial(estimate_bytes, path, dict.fromkeys(ROLES, torch.float32))
    key = model_key("ip_adapter", path, "cpu")
    return cache.get_or_load(key, lambda: load_ip_adapter(path), "cpu", estimate)


def load_style_model_cached(path: str | Path, device: str = "cpu", vram_mode: str = "auto",
                            cache: ModelCache | None = None) -> Any:
    """``pipelines.loading.style_model.load_style_model`` (Flux Redux) through the cache."""
    from pipelines.loading.style_model import load_style_model

    return _load_float32("style_model", path, device, vram_mode, cache, load_style_model)
