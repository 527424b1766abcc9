"""The T5 tokenizer that T5 encoder files lack (SD3's t5xxl, Flux's): files hold only
weights, so the tokenizer (google/t5-v1_1-xxl's 32,128-piece SentencePiece vocabulary) is
read from a folder with its ``tokenizer.json`` (or ``spiece.model``), looked for, in order:

1. a ``t5_tokenizer`` folder next to the T5 file (or next to the checkpoint holding it);
2. ``t5_tokenizer`` in the user's models folder (``$STUDIO_MODELS``);
3. ``resources/configs/t5-tokenizer`` (where a packaged build ships it).

ComfyUI ships the same files as ``comfy/text_encoders/t5_tokenizer``; a diffusers SD3 or
Flux folder has them as ``tokenizer_3`` / ``tokenizer_2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.errors import ModelLoadError
from pipelines.loading.readers import CONFIGS

FOLDER = "t5_tokenizer"
_FILES = ("tokenizer.json", "spiece.model")


def tokenizer_folders(near: Path) -> list[Path]:
    """Where a T5 tokenizer is looked for, in order (see the module docstring)."""
    from pipelines.loading.folders import user_models_dir

    return [near / FOLDER, user_models_dir() / FOLDER, CONFIGS / "t5-tokenizer"]


def t5_tokenizer(near: Path, max_length: int = 512) -> Any:
    """The first T5 tokenizer found for a T5 file in folder ``near``.

    Raises:
        ModelLoadError: none of the folders has one, or it cannot be read.
    """
    from transformers import T5TokenizerFast

    for folder in tokenizer_folders(near):
        if any((folder / name).is_file() for name in _FILES):
            try:
                return T5TokenizerFast.from_pretrained(str(folder), local_files_only=True,
                                                       model_max_length=max_length)
            except Exception as exc:  # any failure means a broken tokenizer folder
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelLoadError(folder, f"The T5 tokenizer could not be read ({detail}).",
                                     hint="") from None
    raise ModelLoadError(
        near, "The T5 text encoder needs its tokenizer, which the file does not hold: put the "
        f"T5 tokenizer files (tokenizer.json or spiece.model, e.g. from google/t5-v1_1-xxl or "
        f"ComfyUI's comfy/text_encoders/t5_tokenizer) in a folder '{FOLDER}' next to the model "
        "file or in the models folder.", hint="")
