"""Textual-inversion embeddings (``embedding:name`` in a prompt): find the file in the
embeddings folders, read it without running code, pick the vectors for each text encoder, and
splice them into the token-embedding stream while the encoder runs.

Formats: A1111 ``.pt``/``.bin`` (``string_to_param``), A1111/civitai ``.safetensors``
(``emb_params``), diffusers ``learned_embeds`` (``{"<token>": [dim] or [n, dim]}``) and SDXL
``.safetensors`` (``clip_l`` [n, 768] + ``clip_g`` [n, 1280]).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import ModelLoadError, PipelineError

if TYPE_CHECKING:
    import torch

SUFFIXES = (".safetensors", ".pt", ".bin")
_PICKLE_SUFFIXES = {".pt", ".bin", ".pth", ".ckpt"}
_SDXL_KEYS = ("clip_l", "clip_g")  # text encoder slot 0 and slot 1
_FAMILY = {768: "SD1.x", 1024: "SD2.x", 1280: "SDXL"}


class EmbeddingError(PipelineError):
    """An embedding named in a prompt is missing, unreadable, or made for another model."""


def find(name: str) -> Path:
    """The file for ``embedding:name``: ``name`` as written, or with an embedding suffix added,
    in the first embeddings folder that has it.

    Raises:
        EmbeddingError: no such file in any embeddings folder (the message lists them).
    """
    from pipelines.loading.file_policy import FileRefused, check_regular, is_inside
    from pipelines.loading.folders import roots

    folders = roots("embeddings")
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts or name.startswith("~"):
        raise EmbeddingError(
            f"Embedding {name!r}: give the name of a file in the embeddings folders "
            f"({', '.join(str(f) for f in folders)}), not a path leading out of them."
        )
    for root in folders:
        base = root / name
        for candidate in (base, *(base.with_name(base.name + s) for s in SUFFIXES)):
            if not os.path.lexists(candidate):
                continue
            if not is_inside(candidate, [root]):
                raise EmbeddingError(
                    f"Embedding {name!r} is a link to {os.path.realpath(candidate)}, outside "
                    f"the embeddings folder {root}; copy the file into the folder instead.")
            try:
                check_regular(candidate, "embedding file")
            except FileRefused as exc:
                raise EmbeddingError(str(exc)) from None
            return candidate
    raise EmbeddingError(
        f"Embedding {name!r} not found in the embeddings folders "
        f"({', '.join(str(f) for f in folders)}). Put the .safetensors/.pt/.bin file in one of "
        "them, or fix the name after 'embedding:' in the prompt."
    )


def read(path: Path) -> dict[str, torch.Tensor]:
    """The vectors of an embedding file: ``{"clip_l", "clip_g"}`` for SDXL files, else
    ``{"*"}``, each [n, dim] float32 on the CPU (cached until the file changes; never mutate).

    Raises:
        EmbeddingError: unreadable file, a pickle that would run code, or no embedding inside.
    """
    stat = path.stat()
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_cached(path: str, _mtime_ns: int, _size: int) -> dict[str, torch.Tensor]:
    file = Path(path)
    return _vector_sets(file, _load(file))


def _load(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from pipelines.loading.readers import read_state_dict

        try:
            return read_state_dict(path)[0]
        except ModelLoadError as exc:
            raise EmbeddingError(f"Embedding file {path}: {exc.message}") from None
    if path.suffix not in _PICKLE_SUFFIXES:
        raise EmbeddingError(f"Embedding file {path}: '{path.suffix}' is not an embedding file "
                             f"type (use {', '.join(SUFFIXES)}).")
    import torch

    try:
        # A1111 files nest their tensors (string_to_param), which read_state_dict would drop;
        # the weights-only unpickler still refuses anything that could run code.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights only" in str(exc).lower():
            raise EmbeddingError(
                f"Refused to load embedding {path}: this pickle file holds more than plain "
                "tensors and could run code when opened, so it was not opened. Use a "
                ".safetensors version of this embedding."
            ) from None
        raise EmbeddingError(f"Embedding file {path} is not readable ({exc}).") from None
    if not isinstance(state, dict):
        raise EmbeddingError(f"Embedding file {path} holds no dict of tensors.")
    return state


def _vector_sets(path: Path, state: dict[str, Any]) -> dict[str, torch.Tensor]:
    import torch

    def rows(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().reshape(-1, tensor.shape[-1]).float().contiguous()

    sdxl = {k: state[k] for k in _SDXL_KEYS if isinstance(state.get(k), torch.Tensor)}
    if sdxl:
        return {k: rows(v) for k, v in sdxl.items()}
    params = state.get("string_to_param")
    if isinstance(params, dict):  # A1111: {"*": [n, dim]}
        tensors = [params["*"]] if "*" in params else list(params.values())
    elif isinstance(state.get("emb_params"), torch.Tensor):
        tensors = [state["emb_params"]]
    else:  # diffusers learned_embeds: {"<token>": [dim] or [n, dim]}
        tensors = list(state.values())
    tensors = [t for t in tensors if isinstance(t, torch.Tensor) and t.ndim >= 1]
    if len(tensors) != 1:
        raise EmbeddingError(
            f"Embedding file {path} is not a textual-inversion embedding (keys: "
            f"{', '.join(sorted(map(str, state))[:8]) or 'none'}). Expected string_to_param, "
            "emb_params, clip_l/clip_g, or a single <token> tensor."
        )
    return {"*": rows(tensors[0])}


def _match(name: str, path: Path, sets: dict[str, torch.Tensor],
           widths: Sequence[int | None]) -> list[torch.Tensor | None]:
    """The vectors for each text encoder slot (None where the model has no such encoder)."""
    picked: list[torch.Tensor | None] = []
    for slot, width in enumerate(widths):
        vectors = sets.get("*", sets.get(_SDXL_KEYS[slot]))
        if width is not None and vectors is None and "*" not in sets:
            raise EmbeddingError(
                f"Embedding {name!r} ({path}) has no {_SDXL_KEYS[slot]} vectors; an SDXL "
                f"embedding needs both {' and '.join(_SDXL_KEYS)}."
            )
        if width is not None and (vectors is None or vectors.shape[-1] != width):
            model = " and ".join(str(w) for w in widths if w is not None)
            encoders = "text encoder is" if " and " not in model else "text encoders are"
            made = " + ".join(str(v.shape[-1]) for v in sets.values())
            family = "SDXL" if len(sets) == 2 else _FAMILY.get(
                next(iter(sets.values())).shape[-1], "another model")
            raise EmbeddingError(
                f"Embedding {name!r} ({path}) is made for {family} ({made}) but this model's "
                f"{encoders} {model} wide. Use an embedding trained for this model's family."
            )
        picked.append(None if width is None else vectors)
    counts = {v.shape[0] for v in picked if v is not None}
    if len(counts) > 1:
        raise EmbeddingError(f"Embedding {name!r} ({path}): clip_l and clip_g hold different "
                             f"numbers of vectors ({sorted(counts)}).")
    return picked


def prompt_embeddings(
    names: Sequence[str], encoders: Sequence[Any | None]
) -> list[dict[str, torch.Tensor] | None]:
    """Vectors of the named embeddings for each text encoder slot.

    Args:
        names: Names as written after ``embedding:`` in the prompt.
        encoders: Text encoders by slot (``clip_l``-like first, ``clip_g``-like second); None
            where the model has none.

    Returns:
        Per slot, name -> vectors [n, width] (None for an absent encoder).

    Raises:
        EmbeddingError: a missing or unreadable file, or one made for another model.
    """
    widths = [None if te is None else te.get_input_embeddings().embedding_dim for te in encoders]
    per_slot: list[dict[str, torch.Tensor] | None] = [
        None if w is None else {} for w in widths
    ]
    for name in names:
        path = find(name)
        for slot, vectors in enumerate(_match(name, path, read(path), widths)):
            if vectors is not None:
                per_slot[slot][name] = vectors  # type: ignore[index]
    return per_slot


@contextlib.contextmanager
def spliced(text_encoder: Any, vectors: dict[int, torch.Tensor]) -> Iterator[None]:
    """While active, the encoder's token embeddings at the given sequence positions are the
    given vectors. A forward hook on the input-embedding layer does it (CLIPTextModel takes no
    ``inputs_embeds``); the weights are never touched and the hook is removed on exit."""
    if not vectors:
        yield
        return
    import torch

    positions = sorted(vectors)
    index = torch.tensor(positions)
    rows = torch.stack([vectors[p] for p in positions])

    def replace(_module: Any, _args: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[:, index.to(output.device)] = rows.to(output.device, output.dtype)
        return output

    handle = text_encoder.get_input_embeddings().register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def fingerprint(text: str) -> list[Any] | None:
    """Cache-key material for a prompt: each referenced embedding's file, mtime and size (or
    None when missing), so editing an embedding file re-encodes the prompt. Never raises."""
    from pipelines.text.prompt_weights import embedding_names

    names = embedding_names(text)
    if not names:
        return None
    found: list[Any] = []
    for name in names:
        try:
            path = find(name)
            stat = path.stat()
            found.append([name, str(path.resolve()), stat.st_mtime_ns, stat.st_size])
        except (EmbeddingError, OSError, ValueError):  # ValueError: a malformed models.toml
            found.append([name, None])
    return found
