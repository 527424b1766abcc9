"""Weight precision per role (denoiser, text encoders, VAE) for a device and a model family.

The automatic choice ("auto"):

- CPU: float32 everywhere (half precision on the CPU is slow and partly unsupported).
- CUDA: float16 denoiser and text encoders. The VAE is float16 too, except where the family
  says its VAE overflows in float16 (``ModelFamily.vae_fp16_upcast``: SDXL base and refiner)
  and the VAE config says ``force_upcast`` (the default): it is loaded in float32, the rule
  diffusers' SDXL pipeline follows. float16 rather than
  bfloat16 because every CUDA GPU runs it and it is what SD checkpoints are published in.
- MPS: float16 denoiser and text encoders, float32 VAE (Apple's float16 VAE decode is unreliable).
- A family we could not read before loading ("unknown"): the VAE stays float32, to be safe.

An explicit ``precision`` (fp32/fp16/bf16) sets the denoiser and text encoders; ``vae_precision``
"auto" then follows it, with the same float16-overflow rule (bfloat16 has float32's range, so
bf16 needs no upcast). An explicit ``vae_precision`` always wins: a user who forces an fp16 SDXL
VAE gets it, and ``pipelines.sampling.vae`` upcasts it at decode time if it overflows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.catalog import PRECISION_NAMES
from pipelines.errors import ModelLoadError
from pipelines.families import ROLES, folder_family, get_family
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

PRECISIONS = PRECISION_NAMES
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
}


def _check(value: str, field: str) -> str:
    if value not in PRECISIONS:
        raise ValueError(f"{field} {value!r} is not one of {', '.join(PRECISIONS)}")
    return value


def choose_dtypes(
    device: str | torch.device, family: str, requested: str = "auto",
    vae_precision: str = "auto", vae_force_upcast: bool = True,
) -> dict[str, torch.dtype]:
    """The dtype each component is loaded in (see the module docstring for the rules).

    Args:
        device: The run device ("cpu", "cuda", "cuda:1", "mps").
        family: Model family id (``pipelines.families``); "unknown" is allowed.
        requested: "auto", "fp32", "fp16" or "bf16", for the denoiser and text encoders.
        vae_precision: The same choices, for the VAE.
        vae_force_upcast: The VAE config's ``force_upcast`` (True when absent).

    Returns:
        ``{"denoiser": dtype, "text_encoder": dtype, "vae": dtype}`` (``ROLES``).

    Raises:
        ValueError: ``requested`` or ``vae_precision`` is not one of ``PRECISIONS``.
    """
    _check(requested, "precision")
    _check(vae_precision, "vae precision")
    kind = torch.device(device).type
    if requested != "auto":
        main = DTYPES[requested]
    else:
        main = torch.float32 if kind == "cpu" else torch.float16
    if vae_precision != "auto":
        vae = DTYPES[vae_precision]
    elif kind == "mps" and main != torch.float32:
        vae = torch.float32
    elif main == torch.float16 and get_family(family).vae_upcast(vae_force_upcast):
        vae = torch.float32
    else:
        vae = main
    return {"denoiser": main, "text_encoder": main, "vae": vae}


def component_dtypes(dtype: torch.dtype | dict[str, torch.dtype] | None) -> dict[str, torch.dtype]:
    """One dtype for every role, or a per-role mapping filled with float32.

    Args:
        dtype: None (float32), a dtype, or a dict with any of ``ROLES`` as keys.

    Raises:
        ValueError: the dict names something that is not a role.
    """
    if not isinstance(dtype, dict):
        return dict.fromkeys(ROLES, dtype or torch.float32)
    unknown = set(dtype) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown component(s) {sorted(unknown)}; use {', '.join(ROLES)}")
    return {name: dtype.get(name) or torch.float32 for name in ROLES}


def dtype_names(dtypes: dict[str, torch.dtype]) -> tuple[tuple[str, str], ...]:
    """A hashable, readable form of a dtype mapping (for cache keys and messages)."""
    return tuple((name, str(dtypes[name]).removeprefix("torch.")) for name in ROLES)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = checked_loads(path.read_bytes(), max_chars=16 * 1024 * 1024)
    except (OSError, JsonInputError):
        return {}
    return data if isinstance(data, dict) else {}


def peek_family(path: str | Path) -> tuple[str, bool]:
    """The family of a checkpoint and its VAE's ``force_upcast``, read from configs or the
    safetensors header without loading weights. Anything unreadable gives ("unknown", True):
    the loader itself reports the real problem.

    Returns:
        ``(family, vae_force_upcast)``.
    """
    path = Path(path)
    if path.is_dir():
        vae_config = _json(path / "vae" / "config.json")
        try:
            family = folder_family(path)
        except (ValueError, ModelLoadError):  # the loader names a bad studio.json
            family = "unknown"
        return family, bool(vae_config.get("force_upcast", True))
    if path.suffix != ".safetensors":
        return "unknown", True
    from pipelines.loading.detect import detect

    try:
        found = detect(path)
    except ModelLoadError:
        return "unknown", True
    # single files carry no VAE config; the shipped templates (the real repos') decide
    return (found.family or "unknown"), True


def checkpoint_dtypes(
    path: str | Path, device: str | torch.device, precision: str = "auto",
    vae_precision: str = "auto",
) -> dict[str, torch.dtype]:
    """``choose_dtypes`` for the checkpoint at ``path`` (its family read from its configs)."""
    family, upcast = peek_family(path)
    return choose_dtypes(device, family, precision, vae_precision, upcast)
