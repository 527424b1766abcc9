"""Loading the components of a diffusers-format folder that the model's family lists, and
only those classes the family allows (a folder never names the code that runs)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.families import ROLES, ModelFamily, folder_family, get_family
from pipelines.loading.component_kinds import wrong_kind
from pipelines.untrusted_json import JsonInputError, load_object_file

_LIBRARIES = ("diffusers", "transformers")
# Classes a family may name that the library does not export at its top level (a saved
# UnCLIPPipeline names diffusers.UnCLIPTextProjModel, which diffusers itself cannot reload):
# where each may live, newest first.
_NOT_EXPORTED: dict[str, tuple[str, ...]] = {
    "diffusers.UnCLIPTextProjModel": ("diffusers.pipelines.deprecated.unclip.text_proj",
                                      "diffusers.pipelines.unclip.text_proj"),
}


def _not_exported(name: str) -> type | None:
    for module in _NOT_EXPORTED[name]:
        try:
            found = getattr(importlib.import_module(module), name.rsplit(".", 1)[1], None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a model folder.

    Raises:
        ModelLoadError: missing, unreadable, or not a JSON object.
    """
    try:
        return load_object_file(path)
    except FileNotFoundError as exc:
        raise ModelLoadError(path, "The file is missing.") from exc
    except JsonInputError as exc:
        if str(exc) == "expected a JSON object":
            raise ModelLoadError(path, "The file must hold a JSON object.") from None
        raise ModelLoadError(path, f"The file is not valid JSON ({exc}).") from None


def declared(model_index: dict[str, Any], name: str) -> bool:
    entry = model_index.get(name)
    return isinstance(entry, list) and len(entry) == 2 and entry[1] is not None


def _component_class(folder: Path, model_index: dict[str, Any], name: str,
                     allowed: tuple[str, ...], role: str | None = None) -> type:
    if not declared(model_index, name):
        raise ModelLoadError(folder / "model_index.json", f"It does not declare a '{name}'.")
    library, class_name = model_index[name]
    if library not in _LIBRARIES:
        raise ModelLoadError(
            folder / "model_index.json",
            f"Component '{name}' comes from library {library!r}; only {', '.join(_LIBRARIES)} are supported.",
        )
    if not any(fnmatchcase(f"{library}.{class_name}", pattern) for pattern in allowed):
        raise ModelLoadError(
            folder / "model_index.json",
            f"Component '{name}' is {library}.{class_name}; this model family takes "
            f"{' or '.join(allowed)}.",
        )
    cls = getattr(importlib.import_module(library), class_name, None)
    if cls is None and f"{library}.{class_name}" in _NOT_EXPORTED:
        cls = _not_exported(f"{library}.{class_name}")
    if cls is None:
        raise ModelLoadError(
            folder / "model_index.json", f"Unknown class {library}.{class_name} for '{name}'."
        )
    why = wrong_kind(cls, role or ("tokenizer" if name.startswith("tokenizer") else "network"))
    if why:
        raise ModelLoadError(folder / "model_index.json",
                             f"Component '{name}' is {library}.{class_name}, {why}.")
    return cls


def direct_device(device: str | torch.device) -> torch.device | None:
    """Where ``from_pretrained`` can put a network's weights itself (``device_map``), instead of
    a load on the CPU and a copy: a CUDA device (index resolved as ``.to("cuda")`` would), with
    accelerate installed (diffusers' ``device_map`` needs it). None keeps the load on the CPU
    then ``.to(device)``: the CPU itself (a low-VRAM load stores there too), MPS, no accelerate.
    The weights are cast to their role's dtype per tensor on the CPU on both paths."""
    target = torch.device(device)
    if target.type != "cuda" or importlib.util.find_spec("accelerate") is None:
        return None
    return target if target.index is not None else torch.device("cuda", torch.cuda.current_device())


def home(network: torch.nn.Module, device: str | torch.device,
         in_ram: Callable[[type], bool] | None) -> str | torch.device:
    """Where a loaded network goes: the CPU if ``in_ram`` keeps its class in RAM, else
    ``device``."""
    return "cpu" if in_ram is not None and in_ram(type(network)) else device


def _quantized(sub: Path) -> bool:
    """A component whose weights a quantizer places (a ``quantization_config``) or GGUF
    files: those keep the load-then-move path they were written for."""
    try:
        config = load_object_file(sub / "config.json")
    except (OSError, JsonInputError):
        config = {}
    return "quantization_config" in config or any(sub.glob("*.gguf"))


def _read(cls: type, sub: Path, kwargs: dict[str, Any]) -> tuple[Any, Exception | None]:
    try:
        return cls.from_pretrained(str(sub), **kwargs), None
    except Exception as exc:  # noqa: BLE001 (the caller reports it against the folder)
        return None, exc


def load_component(folder: Path, model_index: dict[str, Any], name: str, dtype: torch.dtype,
                   allowed: tuple[str, ...] = ("diffusers.*", "transformers.*"),
                   role: str | None = None, device_map: torch.device | None = None) -> Any:
    """One component folder, in eval mode with gradients off.

    Args:
        role: The component's role in its family ("tokenizer" for tokenizers and image
            processors; anything else is a network); None: guessed from ``name``.
        device_map: A network's weights go straight there (``direct_device``); None: the CPU.

    Raises:
        ModelLoadError: undeclared, disallowed class, missing folder or unreadable weights.
    """
    cls = _component_class(folder, model_index, name, allowed, role)
    sub = folder / name
    if not sub.is_dir():
        raise ModelLoadError(sub, f"The '{name}' folder is missing.")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if name.startswith("tokenizer") or not issubclass(cls, torch.nn.Module):
        pass  # tokenizers and image processors take no dtype
    elif cls.__module__.startswith("transformers"):
        kwargs["dtype"] = dtype
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar per encoder is noise
    else:
        kwargs["torch_dtype"] = dtype
        if importlib.util.find_spec("accelerate") is None:
            kwargs["low_cpu_mem_usage"] = False  # silences diffusers' "install accelerate" warning
    networks = "dtype" in kwargs or "torch_dtype" in kwargs
    if (device_map is not None and networks and kwargs.get("low_cpu_mem_usage", True)
            and not _quantized(sub)):
        kwargs["device_map"] = device_map  # straight there, cast per tensor as on the CPU
    component, error = _read(cls, sub, kwargs)
    if error is not None and "device_map" in kwargs:
        error = None  # drops the failed attempt (and what it put on the device) first
        del kwargs["device_map"]  # the CPU path loads it, or reports what it always did
        component, error = _read(cls, sub, kwargs)
    if error is not None:  # any failure here means a broken model folder
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(sub, f"The {name} could not be read ({detail}).") from error
    if "device_map" in kwargs and "hf_device_map" in vars(component):
        del component.hf_device_map  # one device, no hooks: like a model moved with .to()
    if isinstance(component, torch.nn.Module):
        component.eval()
        component.requires_grad_(False)
    return component


def check_required(folder: Path, model_index: dict[str, Any], family: ModelFamily) -> None:
    """Raises ModelLoadError naming what model_index.json lacks of the family's components."""
    missing = [c.name for c in family.components if c.required and c.name not in model_index]
    if missing:
        raise ModelLoadError(folder / "model_index.json", f"It lacks: {', '.join(missing)}.")


def load_family_components(folder: Path, model_index: dict[str, Any], family: ModelFamily,
                           dtypes: dict[str, torch.dtype], device_map: torch.device | None = None,
                           roles: tuple[str, ...] = ROLES,
                           in_ram: Callable[[type], bool] | None = None) -> dict[str, Any]:
    """Every network and tokenizer the family lists (optional ones when declared), each in the
    dtype of its role; the scheduler is read as a config by the caller. The networks of
    ``roles`` are loaded straight to ``device_map`` when given (``direct_device``), the
    others on the CPU, as are those whose class ``in_ram`` keeps in RAM (a T5 encoder:
    ``pipelines.memory.placement.kept_in_ram``), not loaded to the GPU to be moved back.

    Raises:
        ModelLoadError: a required component is missing, a text pair is incomplete, or the
            family has text encoders and the folder declares none.
    """
    index_file = folder / "model_index.json"
    check_required(folder, model_index, family)
    loaded: dict[str, Any] = {}
    for part in family.components:
        if part.role == "scheduler" or (not part.required and not declared(model_index, part.name)):
            continue
        dtype = dtypes.get(part.role, torch.float32)  # tokenizers: unused
        where = device_map if part.role in roles else None
        if where is not None and in_ram is not None and in_ram(
                _component_class(folder, model_index, part.name, part.classes, part.role)):
            where = None  # where it will live: the CPU
        loaded[part.name] = load_component(folder, model_index, part.name, dtype, part.classes,
                                           part.role, where)
    for tokenizer, encoder in family.text_encoders:
        if (encoder in loaded) != (tokenizer in loaded):
            raise ModelLoadError(index_file, f"'{encoder}' and '{tokenizer}' must come together.")
    if family.text_encoders and not any(enc in loaded for _, enc in family.text_encoders):
        raise ModelLoadError(index_file, "It declares no text encoder.")
    return loaded


def load_side_folder(
    path: str | Path, device: str | torch.device, dtype: torch.dtype | None,
    accepts: Callable[[ModelFamily], bool], what: str, pick: str, instead: str,
) -> tuple[Path, dict[str, Any]]:
    """The components of a folder that its own loader node opens, not Load Checkpoint (an
    unCLIP prior, a Karlo cascade): every part in ``dtype`` (float32 by default), the
    networks moved to ``device``.

    Args:
        accepts: whether the folder's family is one this loader takes.
        what: the folder's kind with its article ("a prior"), for the refusals.
        pick, instead: the hints when the folder has no model_index.json / is another family.

    Raises:
        ModelLoadError: missing, of another family, or a broken component; names the file.
    """
    folder = Path(path)
    if not (folder / "model_index.json").is_file():
        raise ModelLoadError(folder, f"Not {what} folder (no model_index.json).", hint=pick)
    try:
        family = get_family(folder_family(folder))
    except ValueError as exc:
        raise ModelLoadError(folder / "model_index.json", f"Its {exc}.") from exc
    if not accepts(family):
        raise ModelLoadError(folder, f"This is a {family.label or 'checkpoint'}, not {what} "
                             "folder.", hint=instead)
    dtypes = dict.fromkeys(ROLES, dtype or torch.float32)
    roles = tuple({part.role for part in family.components})  # every network goes to device
    parts = load_family_components(folder, read_json(folder / "model_index.json"), family, dtypes,
                                   direct_device(device), roles)
    for part in parts.values():  # a no-op for those loaded there
        if isinstance(part, torch.nn.Module):
            part.to(device)
    return folder, parts
