"""Fuzzing the model header reader: safetensors headers and diffusers ``studio.json``.
Only ModelLoadError may escape, naming the file; what reads is classified without error."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipelines.errors import ModelLoadError  # noqa: E402
from pipelines.loading.detect import Detection, detect  # noqa: E402
from tests.fuzz.strategies import VALUES, bounded, mutated, to_text  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-headers-"))
U = "model.diffusion_model."


def entry(shape: list[int]) -> dict[str, Any]:
    return {"dtype": "F16", "shape": shape, "data_offsets": [0, 0]}


HEADERS = [
    {U + "input_blocks.0.0.weight": entry([320, 4, 3, 3]),
     U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": entry([320, 768]),
     U + "label_emb.0.0.weight": entry([1280, 2816]),
     "cond_stage_model.transformer.x": entry([1]), "__metadata__": {"format": "pt"}},
    {"conv_in.weight": entry([320, 4, 3, 3]), "down_blocks.0.x": entry([1]),
     "mid.attn2.to_k.weight": entry([320, 2048])},
    {"encoder.conv_in.weight": entry([128, 3, 3, 3]), "decoder.conv_in.weight": entry([1])},
    {"lora_unet_x.lora_down.weight": entry([4, 320])},
]


def check(path: Path) -> None:
    try:
        found = bounded(detect, path)
    except ModelLoadError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
        return
    assert isinstance(found, Detection) and isinstance(found.describe(), str)


def safetensors(header_text: bytes, length: int | None = None) -> Path:
    path = FOLDER / "model.safetensors"
    size = len(header_text) if length is None else length
    path.write_bytes(struct.pack("<Q", size) + header_text + b"\0" * 16)
    return path


@given(st.sampled_from(HEADERS).flatmap(mutated), st.sampled_from([9, 300, 5_000]))
def test_safetensors_headers(header: Any, depth: int) -> None:
    text = to_text(header, depth).encode("utf-8", "surrogatepass")
    check(safetensors(text))


@given(st.binary(max_size=100), st.integers(0, 2**64 - 1))
def test_safetensors_garbage(data: bytes, length: int) -> None:
    check(safetensors(data, length if length % 2 else len(data)))


@given(VALUES)
def test_studio_json(value: Any) -> None:
    folder = FOLDER / "diffusers"
    folder.mkdir(exist_ok=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "studio.json").write_text(json.dumps(value), errors="surrogatepass")
    check(folder)
