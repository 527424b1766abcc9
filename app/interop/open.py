"""Open a workflow file of any format we read: the format detection in one place.

Our own JSON documents, PNGs written by Save Image (our document in a text chunk), ComfyUI
workflows (API or UI format, as JSON or in a PNG) and AUTOMATIC1111 PNG parameters all
become a Graph here. The engine reads only our own format (``app.engine.workflow``).
"""

from __future__ import annotations

from pathlib import Path

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.workflow import FORMAT, WorkflowError, from_document, parse_json
from app.engine.workflow_file import WorkflowFileError, read_workflow_file
from app.interop.comfy import detect, graph_from_png_chunks, load_comfy
from node_api.files import MAX_WORKFLOW_CHARS, PNG_CHUNK
from pipelines.untrusted_json import JsonInputError
from pipelines.untrusted_json import loads as checked_loads


def open_workflow(
    path: str | Path, registry: Registry | None = None, strict: bool = True
) -> Graph:
    """Read a workflow from a .json file (ours or ComfyUI's), from a PNG (written by
    Save Image, ComfyUI or AUTOMATIC1111) or from a WebP (Save Animated, ComfyUI's
    SaveAnimatedWEBP: the same texts in EXIF tags).

    Args:
        strict: when True, node types missing from ``registry`` are an error.

    Raises:
        WorkflowError: the file is missing, unreadable or not a valid workflow.
    """
    path = Path(path)
    try:
        data, chunks = read_workflow_file(path)  # size caps checked before reading
    except WorkflowFileError as exc:
        raise WorkflowError(path, str(exc)) from None
    if chunks is not None:
        if not chunks and path.suffix.lower() == ".webp":
            raise WorkflowError(path, "this WebP carries no workflow (not saved by this app or "
                                      "ComfyUI)")
        if not _is_ours(chunks.get(PNG_CHUNK)):  # ComfyUI or AUTOMATIC1111
            return graph_from_png_chunks(chunks, path, registry, strict)
        raw = parse_json(chunks[PNG_CHUNK], path)
    else:
        assert data is not None
        if not data.strip():
            raise WorkflowError(path, "the file is empty: nothing to open (an interrupted "
                                      "download or copy?)")
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WorkflowError(path, "not a workflow: the file is not UTF-8 text") from None
        raw = parse_json(data, path)
    if detect(raw) is not None:  # a ComfyUI workflow (API or UI format)
        return load_comfy(raw, path, registry, strict)
    return from_document(raw, path, registry, strict)


def import_warnings(graph: Graph) -> list[str]:
    """What an import had to leave out so the rest runs (branches muted), one line each."""
    meta = graph.metadata.get("comfyui")
    broken = meta.get("broken") if isinstance(meta, dict) else None
    return [line for line in broken or [] if isinstance(line, str)]


def _is_ours(text: str | None) -> bool:
    if not text:
        return False
    try:
        raw = checked_loads(text, max_chars=MAX_WORKFLOW_CHARS)
    except JsonInputError:
        return FORMAT in text  # ours but damaged: let the JSON error be reported
    return isinstance(raw, dict) and raw.get("format") == FORMAT
