"""JSON from files we did not write (workflows, PNG text chunks, job files, model headers),
parsed with limits checked first: size, nesting depth, duplicate keys, lone surrogates.

Each caller turns ``JsonInputError`` into its own error type naming the file (WorkflowError,
BatchError, ModelLoadError), so a hostile document is one clear line, never a traceback.

Limits, and why:
- ``MAX_DEPTH`` 64: our workflows nest 4 deep, ComfyUI's about 6, safetensors headers 3;
  the C parser recurses once per level and Python's recursion limit (~1,000) would turn a
  deeper document into a RecursionError deep inside ``json``.
- callers pass ``max_chars`` (e.g. 16 MiB for a workflow): checked before any parsing.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

MAX_DEPTH = 64

# A JSON string, possessive so it cannot backtrack; an unterminated one runs to the end.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonInputError(ValueError):
    """A JSON document that cannot be used; the message says what and where (no file name:
    the caller adds it)."""


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of ``text``, ignoring brackets inside strings.

    Linear in the length of ``text`` and never recursive, so it is safe on any input.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(
    data: str | bytes, *, max_chars: int | None = None, max_depth: int = MAX_DEPTH,
    allow_surrogates: bool = False,
) -> Any:
    """Parse JSON from an untrusted source.

    ``allow_surrogates``: accept ``\\ud800``-style escapes of lone surrogates (our own files
    that record text exactly as it came, such as a batch manifest).

    Raises:
        JsonInputError: not UTF-8, too large, nested too deeply, not valid JSON, a key
            repeated within one object, or a string with a lone UTF-16 surrogate.
    """
    if isinstance(data, bytes | bytearray):
        if max_chars is not None and len(data) > 4 * max_chars:
            raise JsonInputError(_too_large(len(data), max_chars))
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JsonInputError("not UTF-8 text") from None
    else:
        text = data
    if max_chars is not None and len(text) > max_chars:
        raise JsonInputError(_too_large(len(text), max_chars))
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonInputError(f"nested {depth} levels deep; at most {max_depth} are allowed")
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise JsonInputError(
            f"{what} (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:  # cannot happen after the depth check; kept as a backstop
        raise JsonInputError(f"nested more than {max_depth} levels deep") from None
    except JsonInputError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise JsonInputError(f"not usable JSON ({str(exc).split(':')[0]})") from None
    if not allow_surrogates and _SURROGATE_ESCAPE.search(text):
        where = _surrogate_at(value, "")
        if where is not None:
            raise JsonInputError(f"{where or 'the document'}: text with a lone UTF-16 "
                                 f"surrogate (\\ud800-\\udfff) is not valid Unicode")
    return value


def _too_large(size: int, limit: int) -> str:
    return f"too large ({size:,} characters; at most {limit:,} are read)"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError(f"the key {show(key)} appears twice in one object")
        result[key] = value
    return result


def _surrogate_at(value: Any, path: str) -> str | None:
    """The dotted path of the first string (key or value) holding a lone surrogate."""
    if isinstance(value, str):
        return path if not _encodable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if not _encodable(key):
                return path or "a key"
            found = _surrogate_at(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about hostile values."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # very deep, or an int over Python's 4,300 digits
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_object_file(path: Any, max_chars: int = 16 * 1024 * 1024) -> dict[str, Any]:
    """A JSON object from a file of a model folder (``model_index.json``, ``studio.json``,
    configs): the file's kind and size are checked from its ``stat`` before reading (a FIFO
    would block forever), then it is parsed with ``loads``' limits.

    Raises:
        FileNotFoundError: the file is missing.
        JsonInputError: not a regular file, too large, unreadable, not JSON, not an object.
    """
    import os
    import stat

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JsonInputError(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise JsonInputError("not a regular file")
    if info.st_size > 4 * max_chars:
        raise JsonInputError(_too_large(info.st_size, max_chars))
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise JsonInputError(f"cannot be read ({exc.strerror or exc})") from None
    value = loads(data, max_chars=max_chars)
    if not isinstance(value, dict):
        raise JsonInputError("expected a JSON object")
    return value
