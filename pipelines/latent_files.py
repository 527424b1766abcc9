"""ComfyUI's ``.latent`` files: a safetensors file holding ``latent_tensor`` (the VAE's own
latents, unscaled) and an empty ``latent_format_version_0`` marker; files without the marker
are older ones that stored SD 1.x-scaled latents (ComfyUI multiplies them by 1/0.18215).

Our latents are scaled for the denoiser (``(z - shift) * scale`` of the model's family), so a
file is converted with a family's latent format on the way out and in. Our files record the
family in the safetensors metadata (``studio_family``; ComfyUI ignores unknown metadata); a
file from elsewhere needs the family named unless its channel count tells it.

Reading is untrusted: the header is checked before any tensor is read, the file size and the
tensor's element count are capped, and every refusal is one ``LatentFileError`` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import PipelineError

if TYPE_CHECKING:
    import torch

    from pipelines.families.base import ModelFamily
    from pipelines.values import Latent

TENSOR = "latent_tensor"
MARKER = "latent_format_version_0"
LEGACY_SCALE = 0.18215  # what files without the marker were multiplied by
FAMILY_KEY = "studio_family"
AUTO = "auto"
LATENT_MAX_BYTES = 4 << 30  # a 64-image 4096 px SDXL batch in fp32 is about 1 GiB
MAX_ELEMENTS = 1 << 30
_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


class LatentFileError(PipelineError):
    """A ``.latent`` file cannot be written or read; the message names the file, ``field``
    the node input to change ("path" or "family")."""

    def __init__(self, message: str, field: str = "path") -> None:
        self.field = field
        super().__init__(message)


def latent_families() -> tuple[ModelFamily, ...]:
    """The families whose latents come from a VAE (a ``.latent`` file can hold them)."""
    from pipelines.families import families

    return tuple(f for f in families() if f.vae and not f.latent.pixels)


def _named(family_id: str, name: str) -> ModelFamily:
    known = {f.id: f for f in latent_families()}
    if family_id not in known:
        raise LatentFileError(f"latent file {name}: family {family_id!r} is not one of "
                              f"{', '.join(known)}", "family")
    return known[family_id]


def _by_channels(channels: int, name: str) -> ModelFamily:
    """The family a channel count alone tells (every family with it scales the same)."""
    matching = [f for f in latent_families() if f.latent.channels == channels]
    formats = {(f.latent.scaling_factor, f.latent.shift_factor) for f in matching}
    if len(formats) == 1:
        return matching[0]
    if not matching:
        raise LatentFileError(f"latent file {name}: no model family has {channels}-channel "
                              "latents", "family")
    raise LatentFileError(
        f"latent file {name}: its {channels}-channel latents may come from "
        f"{', '.join(f.id for f in matching)}, which scale them differently; name the "
        "model family in 'family'", "family")


def to_file_values(latent: Latent, family_id: str) -> tuple[torch.Tensor, str]:
    """(the VAE's own latents as ComfyUI stores them, the family id) of a latent of ours.

    Raises:
        LatentFileError: the family is unknown or not a VAE-latent family.
    """
    chosen = family_id if family_id != AUTO else latent.space
    if chosen is None:
        raise LatentFileError("the latent does not say which model family made it; name the "
                              "family in 'family'", "family")
    family = _named(chosen, "to save")
    samples = latent.samples.detach().float().cpu()
    raw = samples / family.latent.scaling_factor
    if family.latent.shift_factor is not None:
        raw = raw + family.latent.shift_factor
    return raw.contiguous(), family.id


def encode(latent: Latent, family_id: str, workflow_text: str = "") -> bytes:
    """The bytes of a ``.latent`` file as ComfyUI's SaveLatent writes it (plus our family;
    ``workflow_text`` goes to the metadata as ComfyUI puts its workflow there)."""
    import torch
    from safetensors.torch import save

    raw, family = to_file_values(latent, family_id)
    metadata = {FAMILY_KEY: family}
    if workflow_text:
        metadata["workflow"] = workflow_text
    return save({TENSOR: raw, MARKER: torch.tensor([])}, metadata=metadata)


def _header(path: Path) -> dict[str, Any]:
    from pipelines.errors import ModelLoadError
    from pipelines.loading.detect import read_header

    try:
        return read_header(path)
    except ModelLoadError as exc:
        raise LatentFileError(f"latent file {path}: {exc.message}") from None


def _check_entry(path: Path, header: dict[str, Any]) -> list[int]:
    entry = header.get(TENSOR)
    if entry is None:
        raise LatentFileError(f"latent file {path} has no {TENSOR!r} (not a ComfyUI latent)")
    shape = entry["shape"]
    if entry["dtype"] not in _FLOAT_DTYPES:
        raise LatentFileError(f"latent file {path}: {TENSOR} is {entry['dtype']}, not floats")
    if len(shape) != 4 or 0 in shape:
        raise LatentFileError(f"latent file {path}: {TENSOR} has shape {shape}; expected "
                              "[batch, channels, height, width] image latents")
    if shape[0] * shape[1] * shape[2] * shape[3] > MAX_ELEMENTS:
        raise LatentFileError(f"latent file {path}: {TENSOR} {shape} is over the limit of "
                              f"{MAX_ELEMENTS:,} numbers")
    return shape


def read(path: Path, family_id: str = AUTO) -> Latent:
    """Our latent from a ``.latent`` file (ComfyUI's or ours), scaled for ``family_id``'s
    denoiser ("auto": the family the file records, else the one its channels tell).

    Raises:
        LatentFileError: not a readable latent file, or the family cannot be told.
    """
    from safetensors import safe_open

    from pipelines.loading.file_policy import FileRefused, check_regular
    from pipelines.values import Latent

    try:
        check_regular(path, "latent file", max_bytes=LATENT_MAX_BYTES)
    except FileRefused as exc:
        raise LatentFileError(str(exc)) from None
    shape = _check_entry(path, _header(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            marked = MARKER in handle.keys()  # noqa: SIM118 (safe_open is not a dict)
            raw = handle.get_tensor(TENSOR).float()
    except Exception as exc:  # safetensors raises its own error types for broken files
        raise LatentFileError(f"latent file {path} cannot be read "
                              f"({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if not marked:
        raw = raw / LEGACY_SCALE
    if family_id != AUTO:
        family = _named(family_id, str(path))
    elif isinstance(metadata.get(FAMILY_KEY), str):
        family = _named(metadata[FAMILY_KEY], str(path))
    else:
        family = _by_channels(shape[1], str(path))
    if shape[1] != family.latent.channels:
        raise LatentFileError(f"latent file {path} holds {shape[1]}-channel latents; "
                              f"{family.id} uses {family.latent.channels}", "family")
    if family.latent.shift_factor is not None:
        raw = raw - family.latent.shift_factor
    return Latent(samples=(raw * family.latent.scaling_factor).contiguous(), space=family.id)
