"""Fuzzing the workflow loader: our format, ComfyUI API and UI documents (as files and
inside PNG chunks), mutated and as raw text. Only WorkflowError may escape, its message
starts with the file name and is one line, and a loaded graph validates without raising."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

from app.engine.registry import default_registry  # noqa: E402
from app.engine.validation import validate  # noqa: E402
from app.engine.workflow import WorkflowError  # noqa: E402
from app.interop.open import open_workflow  # noqa: E402
from tests.fuzz.strategies import bounded, mutated, to_text  # noqa: E402
from tests.interop import comfy_docs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OURS = json.loads((ROOT / "resources" / "workflows" / "default.json").read_text())
FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-workflows-"))
REGISTRY = default_registry()


def check(path: Path, strict: bool = True) -> None:
    """Load ``path``: a graph that validates, or one clear WorkflowError about ``path``."""
    try:
        graph = bounded(open_workflow, path, REGISTRY, strict)
    except WorkflowError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert len(message) < 2_000, message[:200]
        return
    bounded(validate, graph, REGISTRY)  # problems are fine, exceptions are not


def write(name: str, text: str | bytes) -> Path:
    path = FOLDER / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@given(mutated(OURS), st.sampled_from([65, 500, 5_000]))
def test_our_format(doc: Any, depth: int) -> None:
    check(write("ours.json", to_text(doc, depth)))


@given(mutated(comfy_docs.api()), st.booleans())
def test_comfy_api(doc: Any, strict: bool) -> None:
    check(write("api.json", to_text(doc)), strict)


@given(mutated(comfy_docs.ui()), st.booleans())
def test_comfy_ui(doc: Any, strict: bool) -> None:
    check(write("ui.json", to_text(doc)), strict)


JSONISH = st.text(alphabet='{}[]",:0123456789.-eE tnrufalsNIa\\u', max_size=200)


@given(JSONISH | st.binary(max_size=200))
def test_raw_text(text: str | bytes) -> None:
    check(write("raw.json", text))


@given(
    st.sampled_from(["prompt", "workflow", "parameters"]),
    mutated(comfy_docs.api()) | mutated(comfy_docs.ui()) | mutated(OURS),
    st.sampled_from(["json", "text"]),
    JSONISH,
)
def test_png_chunks(chunk: str, doc: Any, kind: str, text: str) -> None:
    info = PngImagePlugin.PngInfo()
    value = to_text(doc) if kind == "json" else text
    info.add_text(chunk, value.encode("utf-8", "surrogatepass").decode("latin-1"))
    path = FOLDER / "chunk.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    check(path)
