"""Workflow, PNG and job files are capped from their stat or chunk header, before reading:
one line naming the file and the cap; PNG text is read without decoding the pixels."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from app.batch import jobs
from app.batch.jobs import BatchError, parse_spec, read_job_file
from app.engine import workflow_file
from app.engine.registry import default_registry
from app.engine.workflow import WorkflowError
from app.interop.open import open_workflow as load_workflow
from pipelines import untrusted_png
from pipelines.untrusted_png import PngTextError, read_text_chunks

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = (ROOT / "resources" / "workflows" / "default.json").read_text()


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*chunks: bytes) -> bytes:
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    pixels = chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return untrusted_png.SIGNATURE + header + b"".join(chunks[:1]) + pixels + \
        b"".join(chunks[1:]) + chunk(b"IEND", b"")


def one_line_naming(exc: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(exc.value)
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word in message, message


def test_a_big_workflow_file_is_refused_from_its_size(tmp_path, registry, monkeypatch):
    monkeypatch.setattr(workflow_file, "MAX_JSON_BYTES", len(DEFAULT) - 1)
    path = tmp_path / "big.json"
    path.write_text(DEFAULT)
    with pytest.raises(WorkflowError) as info:
        load_workflow(path, registry)
    one_line_naming(info, path, "over the limit of", "for a workflow file")


def test_a_sparse_300_mb_workflow_is_refused_at_once(tmp_path, registry):
    path = tmp_path / "sparse.json"
    with open(path, "wb") as file:
        file.truncate(300 << 20)  # no disk used; reading it would take 300 MB of memory
    with pytest.raises(WorkflowError) as info:
        load_workflow(path, registry)
    one_line_naming(info, path, "300 MB", "over the limit of 64 MB")


def test_a_big_png_is_refused_from_its_size(tmp_path, registry, monkeypatch):
    monkeypatch.setattr(workflow_file, "MAX_PNG_BYTES", 100)
    path = tmp_path / "big.png"
    path.write_bytes(png(chunk(b"tEXt", b"workflow\x00" + DEFAULT.encode())))
    with pytest.raises(WorkflowError) as info:
        load_workflow(path, registry)
    one_line_naming(info, path, "over the limit of 100 bytes for a PNG")


@pytest.mark.parametrize("kind", [b"tEXt", b"iTXt"])
def test_a_text_chunk_over_its_cap_is_refused_before_reading(tmp_path, registry, monkeypatch, kind):
    monkeypatch.setattr(untrusted_png, "MAX_CHUNK_BYTES", 1 << 20)
    body = b"workflow\x00" + (b"\x00\x00\x00\x00" if kind == b"iTXt" else b"")
    path = tmp_path / "chunk.png"
    path.write_bytes(png(chunk(kind, body + b"x" * (2 << 20))))
    with pytest.raises(WorkflowError) as info:
        load_workflow(path, registry)
    one_line_naming(info, path, "2 MB", "over the limit of 1 MB")


def test_a_compressed_text_bomb_inflates_no_further_than_the_cap(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png(chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * (8 << 20)))))
    with pytest.raises(PngTextError, match="inflates to over the limit of 1 MB"):
        read_text_chunks(path, max_chunk_bytes=1 << 20)


def test_text_after_the_pixels_is_read_without_decoding_them(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("workflow", "é" * 10)
    path = tmp_path / "pil.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    before = read_text_chunks(path)
    after = tmp_path / "after.png"
    data = path.read_bytes()
    iend = data.rindex(b"IEND") - 4
    after.write_bytes(data[:iend] + chunk(b"tEXt", b"prompt\x00{}") + data[iend:])
    assert before == {"workflow": "é" * 10}
    assert read_text_chunks(after) == {"workflow": "é" * 10, "prompt": "{}"}


def test_damaged_and_endless_pngs(tmp_path, monkeypatch):
    good = chunk(b"tEXt", b"workflow\x00{}")
    damaged = good[:-1] + bytes([good[-1] ^ 1])
    path = tmp_path / "d.png"
    path.write_bytes(png(damaged))
    with pytest.raises(PngTextError, match="CRC"):
        read_text_chunks(path)
    path.write_bytes(png(good)[:45])  # cut inside the text chunk
    with pytest.raises(PngTextError, match="truncated"):
        read_text_chunks(path)
    monkeypatch.setattr(untrusted_png, "MAX_CHUNKS", 50)
    path.write_bytes(png(good, *[chunk(b"abCD", b"")] * 100))
    with pytest.raises(PngTextError, match="more than 50 chunks"):
        read_text_chunks(path)


def test_a_big_job_file_is_refused_from_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_JOB_FILE_BYTES", 1000)
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"Noise.seed": 1}) + "\n" * 2000)
    with pytest.raises(BatchError) as info:
        read_job_file(path)
    one_line_naming(info, path, "over the limit of")
    values = tmp_path / "seeds.txt"
    values.write_text("1\n" * 1000)
    with pytest.raises(BatchError) as info:
        parse_spec(f"@{values}")
    one_line_naming(info, values, "over the limit of")


def test_a_fifo_as_job_or_values_file_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "jobs.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(BatchError, match="FIFO"):
        read_job_file(fifo)
    with pytest.raises(BatchError, match="FIFO"):
        parse_spec(f"@{fifo}")
