"""Load a model (diffusers folder or single file) as (DiffusionModel, TextEncoder, Vae), offline."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.previews import default_factors
from pipelines.types import DiffusionModel, TextEncoder, Vae

FAMILIES: tuple[str, ...] = ("sd1", "sd2", "sdxl", "sdxl_refiner", "demo", "unknown")
_LIBRARIES = ("diffusers", "transformers")
_REQUIRED = ("unet", "vae", "scheduler")
_TEXT_PARTS = ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
# The only classes a model_index.json may name, per component: a folder is untrusted data,
# so it must not make us instantiate arbitrary diffusers/transformers (auto) classes.
_CLIP = {("transformers", "CLIPTextModel"), ("transformers", "CLIPTextModelWithProjection")}
_TOKENIZERS = {("transformers", "CLIPTokenizer"), ("transformers", "CLIPTokenizerFast")}
_ALLOWED: dict[str, set[tuple[str, str]]] = {
    "unet": {("diffusers", "UNet2DConditionModel")},
    "vae": {("diffusers", "AutoencoderKL")},
    "text_encoder": _CLIP, "text_encoder_2": _CLIP,
    "tokenizer": _TOKENIZERS, "tokenizer_2": _TOKENIZERS,
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(path, "The file is missing.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(path, f"The file is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(path, "The file must hold a JSON object.")
    return data


def detect_family(
    model_index: dict[str, Any], unet_config: dict[str, Any], studio: dict[str, Any] | None = None
) -> str:
    """Guess the model family from its configs.

    An explicit ``"family"`` in ``studio.json`` (first) or ``model_index.json`` wins. Otherwise:
    ``addition_embed_type == "text_time"`` -> sdxl, cross-attention dim 768 -> sd1, 1024 -> sd2.

    Args:
        model_index: Contents of ``model_index.json``.
        unet_config: The UNet config.
        studio: Contents of ``studio.json`` if present.

    Returns:
        One of ``FAMILIES``.
    """
    for source in (studio or {}, model_index):
        if "family" in source:
            family = str(source["family"])
            if family not in FAMILIES:
                raise ValueError(f"family {family!r} is not one of {', '.join(FAMILIES)}")
            return family
    if unet_config.get("addition_embed_type") == "text_time":
        return "sdxl"
    dim = unet_config.get("cross_attention_dim")
    if isinstance(dim, list | tuple):
        dim = dim[0] if dim else None
    return {768: "sd1", 1024: "sd2"}.get(dim, "unknown")


def _component_class(folder: Path, model_index: dict[str, Any], name: str) -> type:
    entry = model_index.get(name)
    if not isinstance(entry, list) or len(entry) != 2 or entry[1] is None:
        raise ModelLoadError(folder / "model_index.json", f"It does not declare a '{name}'.")
    library, class_name = entry
    if library not in _LIBRARIES:
        raise ModelLoadError(
            folder / "model_index.json",
            f"Component '{name}' comes from library {library!r}; only {', '.join(_LIBRARIES)} are supported.",
        )
    allowed = _ALLOWED.get(name, _ALLOWED["vae"])  # other names: a standalone VAE folder
    if not isinstance(class_name, str) or (library, class_name) not in allowed:
        expected = " or ".join(f"{lib}.{cls}" for lib, cls in sorted(allowed))
        raise ModelLoadError(
            folder / "model_index.json",
            f"Component '{name}' is {library}.{class_name}; this studio only loads {expected} "
            f"there.",
        )
    cls = getattr(importlib.import_module(library), class_name, None)
    if cls is None:
        raise ModelLoadError(
            folder / "model_index.json", f"Unknown class {library}.{class_name} for '{name}'."
        )
    return cls


def _load_component(
    folder: Path, model_index: dict[str, Any], name: str, dtype: torch.dtype
) -> Any:
    cls = _component_class(folder, model_index, name)
    sub = folder / name
    if not sub.is_dir():
        raise ModelLoadError(sub, f"The '{name}' folder is missing.")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if name.startswith("tokenizer"):
        pass
    elif cls.__module__.startswith("transformers"):
        kwargs["dtype"] = dtype
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar per encoder is noise
    else:
        kwargs["torch_dtype"] = dtype
        if importlib.util.find_spec("accelerate") is None:
            kwargs["low_cpu_mem_usage"] = False  # silences diffusers' "install accelerate" warning
    try:
        component = cls.from_pretrained(str(sub), **kwargs)
    except Exception as exc:  # any failure here means a broken model folder
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(sub, f"The {name} could not be read ({detail}).") from exc
    if isinstance(component, torch.nn.Module):
        component.eval()
        component.requires_grad_(False)
    return component


def _preview_factors(folder: Path, family: str, channels: int) -> tuple[Any, Any]:
    path = folder / "preview.json"
    if not path.is_file():
        return default_factors(family, channels)
    data = _read_json(path)
    factors, bias = data.get("latent_rgb_factors"), data.get("latent_rgb_bias")
    rows_ok = isinstance(factors, list) and len(factors) == channels
    if not rows_ok or any(not isinstance(r, list) or len(r) != 3 for r in factors):
        raise ModelLoadError(path, f"latent_rgb_factors must be a {channels} x 3 list of numbers.")
    if bias is not None and (not isinstance(bias, list) or len(bias) != 3):
        raise ModelLoadError(path, "latent_rgb_bias must be a list of 3 numbers.")
    factors = [[float(v) for v in row] for row in factors]
    return factors, None if bias is None else [float(v) for v in bias]


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu",
    dtype: torch.dtype | dict[str, torch.dtype] | None = None,
) -> tuple[DiffusionModel, TextEncoder, Vae]:
    """Load a diffusers-format folder or a single-file checkpoint (never touches the network).

    Args:
        path: Folder with model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/
            (SDXL also text_encoder_2/, tokenizer_2/); optional studio.json and preview.json.
            Or an SD 1.x/2.x/SDXL single file (see ``pipelines.single_file``).
        device: Where the networks go.
        dtype: Weight dtype; None means float32. A dict gives one per component
            (``unet``, ``text_encoder``, ``vae``; see ``pipelines.precision``).

    Returns:
        ``(model, clip, vae)``, networks in eval mode with gradients off.

    Raises:
        ModelLoadError: A missing or corrupt folder or file; the message names it.
    """
    folder = Path(path)
    if not folder.exists():
        raise ModelLoadError(folder, "No such file or folder.")
    if not folder.is_dir():
        from pipelines.single_file import load_single_file

        return load_single_file(folder, device=device, dtype=dtype)
    from pipelines.precision import component_dtypes

    dtypes = component_dtypes(dtype)
    model_index = _read_json(folder / "model_index.json")
    missing = [name for name in _REQUIRED if name not in model_index]
    if missing:
        raise ModelLoadError(folder / "model_index.json", f"It lacks: {', '.join(missing)}.")
    studio = _read_json(folder / "studio.json") if (folder / "studio.json").exists() else None
    scheduler_config = _read_json(folder / "scheduler" / "scheduler_config.json")
    components = {name: _load_component(folder, model_index, name, dtypes[name])
                  for name in _REQUIRED[:2]}
    for name in _TEXT_PARTS:
        entry = model_index.get(name)
        declared = isinstance(entry, list) and len(entry) == 2 and entry[1] is not None
        part_dtype = dtypes.get(name.removesuffix("_2"), torch.float32)  # tokenizers: unused
        components[name] = _load_component(folder, model_index, name, part_dtype) if declared else None
    for encoder, tokenizer in (_TEXT_PARTS[:2], _TEXT_PARTS[2:]):
        if (components[encoder] is None) != (components[tokenizer] is None):
            raise ModelLoadError(
                folder / "model_index.json", f"'{encoder}' and '{tokenizer}' must come together."
            )
    if components["text_encoder"] is None and components["text_encoder_2"] is None:
        raise ModelLoadError(folder / "model_index.json", "It declares no text encoder.")
    unet, vae = components["unet"], components["vae"]
    try:
        family = detect_family(model_index, dict(unet.config), studio)
    except ValueError as exc:
        source = "studio.json" if studio and "family" in studio else "model_index.json"
        raise ModelLoadError(folder / source, f"Its {exc}.") from exc
    channels = int(vae.config.latent_channels)
    factors, bias = _preview_factors(folder, family, channels)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if components[name] is not None:
            components[name].to(device)
    model = DiffusionModel(
        unet=unet,
        scheduler_config=scheduler_config,
        family=family,
        latent_channels=channels,
        vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1),
        prediction_type=str(scheduler_config.get("prediction_type", "epsilon")),
        latent_rgb_factors=factors,
        latent_rgb_bias=bias,
        source=str(folder),
    )
    clip = TextEncoder(
        tokenizer=components["tokenizer"],
        text_encoder=components["text_encoder"],
        source=str(folder),
        tokenizer_2=components["tokenizer_2"],
        text_encoder_2=components["text_encoder_2"],
    )
    shift = getattr(vae.config, "shift_factor", None)
    wrapped_vae = Vae(
        vae=vae,
        scaling_factor=float(getattr(vae.config, "scaling_factor", 0.18215)),
        shift_factor=None if shift is None else float(shift),
        source=str(folder),
    )
    return model, clip, wrapped_vae


def vae_is_sdxl(path: str | Path, scaling: str = "auto") -> bool:
    """Whether a standalone VAE is SDXL's: ``scaling`` "sdxl", or "auto" and the file name
    contains "xl" (VAE files do not record which family they are for)."""
    return scaling == "sdxl" or (scaling == "auto" and "xl" in Path(path).stem.lower())


def load_vae(
    path: str | Path, device: str | torch.device = "cpu", scaling: str = "auto",
    dtype: torch.dtype | None = None,
) -> Vae:
    """Load a standalone VAE: a single file (original or diffusers key layout) or a diffusers
    ``vae`` folder (or a model folder, whose ``vae/`` is used).

    Args:
        path: The file or folder.
        device: Where the network goes.
        scaling: Latent scaling of single files, which do not record it: "sd" (0.18215),
            "sdxl" (0.13025) or "auto" (SDXL when the file name contains "xl").
        dtype: Weight dtype; None means float32.

    Raises:
        ModelLoadError: missing, unsafe or not a VAE; the message names the file.
    """
    from pipelines import single_file
    from pipelines.model_io import CONFIGS, read_state_dict

    path = Path(path)
    if path.is_dir():
        folder = path / "vae" if (path / "model_index.json").is_file() else path
        vae = _load_component(folder.parent, {folder.name: ["diffusers", "AutoencoderKL"]},
                              folder.name, dtype or torch.float32)
        return single_file.wrap_vae(vae.to(device), str(path))
    if not path.exists():
        raise ModelLoadError(path, "No such file or folder.", hint="")
    state, _ = read_state_dict(path)
    if "encoder.conv_in.weight" not in state and "first_stage_model.encoder.conv_in.weight" not in state:
        if "encoder.down_blocks.0.resnets.0.conv1.weight" not in state:
            raise ModelLoadError(path, "Not a VAE (no encoder/decoder weights).",
                                 hint="Pick a file from the vae folder.")
        state = _diffusers_vae_to_original(state)
    template = _read_json(CONFIGS / ("sdxl" if vae_is_sdxl(path, scaling) else "sd1") / "vae"
                          / "config.json")
    vae = single_file.build_vae(state, template, path)
    return single_file.wrap_vae(vae.to(device=device, dtype=dtype or torch.float32), str(path))


def _diffusers_vae_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from pipelines.convert import vae_to_original

    return vae_to_original(state, prefix="")
