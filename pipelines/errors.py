"""Typed errors a user can cause in the diffusion layer (bad files, missing models)."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """The root of every error a user can cause: a bad file, value, argument or model.

    Front ends print its message as one line (no traceback); the message names the file,
    node and field involved and, where it can, says what to do. Programming errors are never
    ``StudioError``.
    """


class PipelineError(StudioError):
    """Base class for every error raised on purpose by ``pipelines``."""


class ModelLoadError(PipelineError):
    """A model folder or file could not be loaded.

    Args:
        path: The file or folder that failed to load.
        message: What went wrong and, ideally, what to do about it.
    """

    FOLDER_HINT = (
        "Check the path, or pick a diffusers-format model folder "
        "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)."
    )

    def __init__(self, path: str | Path, message: str, hint: str | None = None) -> None:
        self.path = str(path)
        self.message = message
        hint = self.FOLDER_HINT if hint is None else hint
        super().__init__(f"Cannot load model from '{self.path}': {message} {hint}".rstrip())


class OutOfMemory(PipelineError):
    """The accelerator ran out of memory even after the automatic fallbacks.

    Args:
        what: The operation, e.g. "VAE decode of a 2048x2048 image".
        hint: What the user can do about it.
    """

    def __init__(self, what: str, hint: str) -> None:
        self.what = what
        super().__init__(f"Out of GPU memory during {what}. {hint}")
