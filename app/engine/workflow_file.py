"""Reading a workflow file's bytes, with its kind and size checked before anything is read.

A workflow is untrusted data, so a FIFO or device named like one (it would block or never
end) is refused from its ``stat``, and so is a file over the cap for its kind:

- a JSON workflow: ``MAX_JSON_BYTES`` (64 MiB: a document of at most ``MAX_WORKFLOW_CHARS``
  characters, 16 Mi, is at most that much UTF-8; real ones are well under 1 MiB);
- a PNG: ``MAX_PNG_BYTES`` (1 GiB); only its text chunks are read, each capped before it is
  read (``pipelines.untrusted_png``), the pixels are skipped;
- a WebP (Save Animated, ComfyUI's SaveAnimatedWEBP): the same cap; only its EXIF chunk is read
  (``pipelines.untrusted_webp``), the frames are skipped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from node_api.files import MAX_WORKFLOW_CHARS
from pipelines.loading.file_policy import describe_mode, size_text
from pipelines.untrusted_png import SIGNATURE, PngTextError, read_text_chunks
from pipelines.untrusted_webp import WebpTextError, is_webp, read_webp_text

MAX_JSON_BYTES = 4 * MAX_WORKFLOW_CHARS
MAX_PNG_BYTES = 1024 * 1024 * 1024


class WorkflowFileError(ValueError):
    """The file cannot be read as a workflow; the message says why (the caller names it)."""


def read_workflow_file(path: Path) -> tuple[bytes | None, dict[str, str] | None]:
    """``(data, None)`` for a text file, ``(None, text_chunks)`` for a PNG or a WebP.

    Raises:
        WorkflowFileError: missing, not a regular file, over its size cap, unreadable, or a
            PNG whose text cannot be read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise WorkflowFileError("no such file") from None
    except OSError as exc:
        raise WorkflowFileError(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise WorkflowFileError(f"is {describe_mode(info.st_mode)}, not a workflow file")
    try:
        with open(path, "rb") as file:
            head = file.read(12)
            if head[:len(SIGNATURE)] == SIGNATURE:
                _check_size(info.st_size, MAX_PNG_BYTES, "a PNG")
                file.close()
                return None, read_text_chunks(path)
            if is_webp(head):
                _check_size(info.st_size, MAX_PNG_BYTES, "a WebP")
                file.close()
                return None, read_webp_text(path)
            _check_size(info.st_size, MAX_JSON_BYTES, "a workflow file")
            return head + file.read(MAX_JSON_BYTES + 1 - len(head)), None
    except PngTextError as exc:
        raise WorkflowFileError(f"the PNG cannot be read ({exc})") from None
    except WebpTextError as exc:
        raise WorkflowFileError(f"the WebP cannot be read ({exc})") from None
    except OSError as exc:
        raise WorkflowFileError(f"cannot be read ({exc.strerror or exc})") from None


def _check_size(size: int, cap: int, what: str) -> None:
    if size > cap:
        raise WorkflowFileError(f"is {size_text(size)}, over the limit of {size_text(cap)} for {what}")
