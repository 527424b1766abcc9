"""Flux's text encoders from the files ComfyUI users have: a CLIP-L file and a T5-XXL file
(Hugging Face layouts, any order), with tokenizers found next to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.flux_files import CLIP_TOKENIZER
from pipelines.loading.text_files import build_clip, build_t5, stored_dtype, text_file_kind
from pipelines.values import TextEncoder


def _clip(state: dict[str, torch.Tensor], path: Path) -> Any:
    """Flux's CLIP-L (a ``CLIPTextModel``, CLIP-L's config for what the tensors do not say),
    computed in the stored dtype."""
    from pipelines.loading.readers import CONFIGS

    return build_clip(state, path, CONFIGS / "sd1" / "text_encoder", projection=False,
                      dtype=stored_dtype(state))


def clip_tokenizer_near(path: Path) -> Any:
    """A ``clip_tokenizer`` folder next to the file, else the CLIP tokenizer we ship."""
    from transformers import CLIPTokenizer

    from pipelines.loading.readers import clip_tokenizer

    folder = path.parent / CLIP_TOKENIZER
    if any((folder / name).is_file() for name in ("vocab.json", "tokenizer.json")):
        try:
            return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # any failure means a broken tokenizer folder
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(folder, f"The CLIP tokenizer could not be read ({detail}).",
                                 hint="") from None
    return clip_tokenizer()


def load_flux_text_encoders(paths: list[Path], family: str = "flux_dev") -> TextEncoder:
    """CLIP-L + T5 from two files in either order (ComfyUI's DualCLIPLoader, type flux).

    Raises:
        ModelLoadError: not exactly one CLIP and one T5 file, or a broken one.
    """
    from pipelines.families import get_family
    from pipelines.loading.readers import read_state_dict
    from pipelines.loading.t5_tokenizer import t5_tokenizer

    found: dict[str, tuple[Path, dict[str, torch.Tensor]]] = {}
    for path in map(Path, paths):
        state, _ = read_state_dict(path)
        kind = text_file_kind(state.keys())
        if not kind:
            raise ModelLoadError(path, "Not a CLIP or T5 text encoder file.", hint="")
        if kind in found:
            raise ModelLoadError(path, f"Flux takes one CLIP-L and one T5 file; this is a second "
                                 f"{kind.upper()} file.", hint="")
        found[kind] = (path, state)
    for kind in ("clip", "t5"):
        if kind not in found:
            names = ", ".join(Path(p).name for p in paths)
            raise ModelLoadError(Path(paths[0]), f"Flux needs a CLIP-L and a T5 text encoder "
                                 f"file; {names} has no {kind.upper()}.", hint="")
    clip_path, clip_state = found["clip"]
    t5_path, t5_state = found["t5"]
    length = int(getattr(get_family(family), "t5_max_length", 512))
    return TextEncoder(
        tokenizer=clip_tokenizer_near(clip_path), text_encoder=_clip(clip_state, clip_path),
        source=f"{clip_path} + {t5_path}", tokenizer_2=t5_tokenizer(t5_path.parent, length),
        text_encoder_2=build_t5(t5_state, t5_path), family=family)
