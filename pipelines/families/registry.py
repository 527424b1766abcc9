"""The registered model families, in detection order, and the questions asked across them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.errors import ModelLoadError
from pipelines.families.base import ModelFamily
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads

_FAMILIES: dict[str, ModelFamily] = {}
UNKNOWN = "unknown"


def register_family(family: ModelFamily) -> ModelFamily:
    """Add (or replace) a family; detection asks families in registration order.

    Raises:
        ValueError: the family has no id.
    """
    if not family.id:
        raise ValueError(f"{type(family).__name__} has no id")
    _FAMILIES.pop(family.id, None)
    _FAMILIES[family.id] = family
    return family


def unregister_family(family_id: str) -> None:
    """Remove a family (tests that register a toy one clean up with this)."""
    _FAMILIES.pop(family_id, None)


def family_ids() -> tuple[str, ...]:
    return tuple(_FAMILIES)


def families() -> tuple[ModelFamily, ...]:
    return tuple(_FAMILIES.values())


def get_family(family_id: str) -> ModelFamily:
    """The family with this id; an unregistered id gets the ``unknown`` family's behaviour."""
    return _FAMILIES.get(family_id) or _FAMILIES[UNKNOWN]


def named_family(family_id: str) -> ModelFamily:
    """The family a model folder names explicitly.

    Raises:
        ValueError: no registered family has that id.
    """
    if family_id not in _FAMILIES:
        raise ValueError(f"family {family_id!r} is not one of {', '.join(_FAMILIES)}")
    return _FAMILIES[family_id]


def detect_family(
    model_index: dict[str, Any], unet_config: dict[str, Any], studio: dict[str, Any] | None = None
) -> str:
    """The family of a diffusers folder from its configs.

    An explicit ``"family"`` in ``studio.json`` (first) or ``model_index.json`` wins; otherwise
    the first family whose ``matches_config`` accepts the denoiser config, else "unknown".

    Raises:
        ValueError: an explicit family that is not registered.
    """
    for source in (studio or {}, model_index):
        if "family" in source:
            return named_family(str(source["family"])).id
    return next((f.id for f in _FAMILIES.values() if f.matches_config(unet_config)), UNKNOWN)


def _json(path: Path) -> dict[str, Any]:
    from pipelines.untrusted_json import JsonInputError, load_object_file

    try:
        return load_object_file(path)
    except (OSError, JsonInputError):  # missing, a FIFO, too deep, not an object: unreadable
        return {}


def folder_family(folder: Path) -> str:
    """``detect_family`` for a folder, reading only JSON: ``studio.json``'s family, else
    ``model_index.json``'s, else the family whose denoiser config matches (an unreadable
    config counts as empty), else "unknown".

    Raises:
        ModelLoadError: ``studio.json`` is there but unreadable, or not a JSON object with a
            text ``family`` (a damaged file is named, not guessed past).
        ValueError: the folder names a family that is not registered.
    """
    named = _studio_family(folder / "studio.json") or _json(folder / "model_index.json").get(
        "family")
    if named:
        return named_family(str(named)).id
    for family in _FAMILIES.values():  # each family may keep its denoiser in another folder
        config = _json(folder / family.denoiser / "config.json")
        if config and family.matches_config(config):
            return family.id
    return UNKNOWN


def _studio_family(studio: Path) -> str:
    """The ``family`` a folder's ``studio.json`` names ("" without the file or the key)."""
    if not studio.is_file():
        return ""
    try:
        raw = checked_loads(studio.read_bytes(), max_chars=1024 * 1024)
    except OSError as exc:
        raise ModelLoadError(studio, f"cannot be read ({exc.strerror})", hint="") from None
    except JsonInputError as exc:
        raise ModelLoadError(studio, f"is not valid ({exc})", hint="") from None
    family = raw.get("family", "") if isinstance(raw, dict) else None
    if not isinstance(family, str):
        raise ModelLoadError(studio, 'must be a JSON object like {"family": "sd1"}', hint="")
    return family


def checkpoint_family(context_dim: int, label_width: int | None) -> str:
    """The family of an original-layout UNet by its widths ("" when none claims it)."""
    return next((f.id for f in _FAMILIES.values()
                 if f.matches_checkpoint(context_dim, label_width)), "")


def input_variant(family_id: str, in_channels: int | None) -> str:
    """The registered variant of ``family_id`` whose UNet takes ``in_channels`` input channels
    (``ModelFamily.variant_of`` / ``input_channels``), else ``family_id`` itself."""
    return next((f.id for f in _FAMILIES.values() if family_id and f.variant_of == family_id
                 and in_channels is not None and f.input_channels == in_channels), family_id)


def text_key_family(keys: Any) -> str:
    """The family whose text-encoder key signature a single file carries ("" if none)."""
    for family in _FAMILIES.values():
        layout = family.single_file
        if layout and any(k.startswith(s) for s in layout.text_signatures for k in keys):
            return family.id
    return ""


def file_family(keys: Any, header: dict[str, Any] | None = None) -> tuple[str, str]:
    """(family, kind) of a safetensors file a family recognises by its own key layout
    (``ModelFamily.file_kind``: transformer families), or ("", ""); with the ``header``
    (name -> shape entry) refined to a variant by its input channels (Flux Fill)."""
    for family in _FAMILIES.values():
        kind = family.file_kind(keys)
        if kind:
            width = family.file_input_channels(header) if header else None
            return input_variant(family.id, width), kind
    return "", ""


def part_file_families(hook: str) -> tuple[ModelFamily, ...]:
    """Families that override a part-file hook (``load_denoiser_file`` or
    ``load_text_encoder_files``): the choices of the Load Diffusion Model / Load Text Encoders
    nodes."""
    base = getattr(ModelFamily, hook)
    return tuple(f for f in _FAMILIES.values() if getattr(type(f), hook) is not base)


def text_file_types() -> tuple[str, ...]:
    """The types Load Text Encoders offers: each family's ``text_files_type`` (or id) among
    those that read text encoder files (Flux dev and schnell share "flux"), in order."""
    found: dict[str, None] = {}
    for family in part_file_families("load_text_encoder_files"):
        found.setdefault(family.text_files_type or family.id, None)
    return tuple(found)


def text_file_family(kind: str) -> ModelFamily:
    """The first family whose text encoder files are of type ``kind``.

    Raises:
        ValueError: no family reads that type.
    """
    readers = [f for f in part_file_families("load_text_encoder_files")
               if (f.text_files_type or f.id) == kind]
    if readers:  # the family of that id first (sd1, not its InstructPix2Pix variant)
        return next((f for f in readers if f.id == kind), readers[0])
    raise ValueError(f"text encoder type {kind!r} is not one of {', '.join(text_file_types())}")


def unet_file_family(context_dim: int) -> str:
    """The family of a diffusers-layout UNet file by its cross-attention width."""
    return next((f.id for f in _FAMILIES.values() if f.matches_unet_file(context_dim)), "")


def single_file_prefixes() -> tuple[str, ...]:
    """Every text-encoder key prefix a registered family's single files use."""
    found: dict[str, None] = {}
    for family in _FAMILIES.values():
        layout = family.single_file
        for prefix in (layout.clip_prefix, layout.open_clip_prefix) if layout else ():
            if prefix:
                found[prefix] = None
    return tuple(sorted(found))


def component_roles() -> dict[str, str]:
    """Component folder -> precision role, across every registered family."""
    roles: dict[str, str] = {}
    for family in _FAMILIES.values():
        roles.update(family.roles())
    return roles


def standalone_vae_family(path: str | Path, scaling: str = "auto") -> str:
    """The family whose latent scaling a standalone VAE file gets: ``scaling`` "sd" (SD1's
    0.18215) or "sdxl" (0.13025), or "auto": SDXL's when the file name contains "xl" (VAE
    files do not record which family they are for)."""
    xl = scaling == "sdxl" or (scaling == "auto" and "xl" in Path(path).stem.lower())
    return "sdxl" if xl else "sd1"
