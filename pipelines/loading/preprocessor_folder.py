"""The steps every preprocessor model folder takes (a Hugging Face layout the user put in the
``preprocessors`` model folder: config.json, weights, preprocessor_config.json): find the folder,
read its config with the size and nesting checks of untrusted JSON, then load the network and
its image processor offline, any failure named in one line. The depth and pose loaders differ
only in which ``model_type`` they accept and which classes they build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pipelines.errors import ModelLoadError
from pipelines.untrusted_json import JsonInputError, load_object_file

T = TypeVar("T")


def read_folder_config(path: str | Path, what: str, hint: str) -> tuple[Path, dict[str, Any]]:
    """The model folder (the model picker may list its weights file) and its config.json.

    Raises:
        ModelLoadError: no config.json, or one that is unreadable, too big, too deep or not an
            object.
    """
    path = Path(path)
    if path.is_file() and (path.parent / "config.json").is_file():
        path = path.parent  # the model picker lists the folder's weights file
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(path, f"Not a {what} model folder (no config.json).", hint=hint)
    try:
        return path, load_object_file(config_file)  # size and nesting checked before parsing
    except (JsonInputError, OSError) as exc:
        raise ModelLoadError(path, f"Its config.json cannot be read ({exc}).",
                             hint=hint) from None


def load_folder_parts(path: Path, what: str, hint: str, load: Callable[[], T]) -> T:
    """``load()`` (the network and its processor, ``local_files_only``) once the folder has its
    preprocessor_config.json.

    Raises:
        ModelLoadError: no preprocessor_config.json, or ``load`` failed (its first line named).
    """
    if not (path / "preprocessor_config.json").is_file():
        raise ModelLoadError(path, "No preprocessor_config.json.", hint=hint)
    try:
        return load()
    except Exception as exc:  # a broken folder: say what, in one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(path, f"The {what} model could not be read ({detail}).",
                             hint=hint) from None
