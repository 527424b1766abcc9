"""The text chunks of a PNG we did not write (a workflow or A1111 parameters inside), read
with limits checked before anything is read or inflated.

PIL's ``Image.text`` decodes every pixel to reach chunks written after the image data, and
allows 64 MiB of text; here the chunk headers are walked (the image data is skipped with a
seek), each text chunk's length is checked against ``max_chunk_bytes`` before it is read, a
compressed chunk is inflated to at most that many bytes, and all text together is capped, so
a huge or hostile PNG costs a few reads, never gigabytes of memory or minutes of decoding.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import BinaryIO

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A text chunk of up to 64 MiB (a 16 Mi-character workflow is at most 64 MiB of UTF-8), and
# 128 MiB of text in all (the workflow and its parameters text).
MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_TEXT_BYTES = 2 * MAX_CHUNK_BYTES
# Chunks walked before giving up: a 1 GiB image in 8 KiB data chunks has ~130,000; a file of
# millions of empty chunks would otherwise cost a read each.
MAX_CHUNKS = 1_000_000
_TEXT_KINDS = {b"tEXt", b"zTXt", b"iTXt"}


class PngTextError(ValueError):
    """The PNG's text cannot be read; the message says why (the caller names the file)."""


def read_text_chunks(path: str | Path, max_chunk_bytes: int | None = None,
                     max_text_bytes: int | None = None) -> dict[str, str]:
    """Every ``tEXt``/``zTXt``/``iTXt`` chunk of the PNG at ``path`` as ``{key: text}`` (the
    first chunk of a key wins, as in PIL).

    Raises:
        PngTextError: not a PNG, a text chunk over a limit, a damaged text chunk.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as file:
        if file.read(8) != SIGNATURE:
            raise PngTextError("not a PNG file")
        return _walk(file, max_chunk_bytes or MAX_CHUNK_BYTES, max_text_bytes or MAX_TEXT_BYTES)


def _walk(file: BinaryIO, max_chunk: int, max_total: int) -> dict[str, str]:
    texts: dict[str, str] = {}
    total = 0
    for _ in range(MAX_CHUNKS):
        head = file.read(8)
        if len(head) < 8:
            return texts  # truncated after the last whole chunk: keep what was read
        length, kind = struct.unpack(">I4s", head)
        if kind == b"IEND":
            return texts
        if kind not in _TEXT_KINDS:
            file.seek(length + 4, 1)  # the data and its CRC, unread
            continue
        name = kind.decode("latin-1")
        if length > max_chunk:
            raise PngTextError(f"a {name} text chunk of {length >> 20} MB is over the limit "
                               f"of {max_chunk >> 20} MB")
        total += length
        if total > max_total:
            raise PngTextError(f"its text chunks together are over the limit of "
                               f"{max_total >> 20} MB")
        data = file.read(length)
        crc = file.read(4)
        if len(data) < length or len(crc) < 4:
            raise PngTextError(f"the file ends inside a {name} text chunk (truncated)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + data):
            raise PngTextError(f"a {name} text chunk is damaged (CRC mismatch)")
        key, text = _decode(kind, data, max_chunk)
        total += max(0, len(text) - length)  # inflated text counts in full
        if total > max_total:
            raise PngTextError(f"its text chunks together are over the limit of "
                               f"{max_total >> 20} MB")
        texts.setdefault(key, text)
    raise PngTextError(f"more than {MAX_CHUNKS:,} chunks; not an image this app reads")


def _decode(kind: bytes, data: bytes, max_chunk: int) -> tuple[str, str]:
    key, sep, rest = data.partition(b"\x00")
    if not sep or not 1 <= len(key) <= 79:
        raise PngTextError(f"a {kind.decode()} text chunk has no valid keyword")
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, _inflate(rest[1:], max_chunk, name).decode("latin-1")
    # iTXt: compression flag, method, language tag\0, translated keyword\0, text (UTF-8)
    if len(rest) < 2:
        raise PngTextError(f"the iTXt chunk {name!r} is damaged")
    flag, body = rest[0], rest[2:]
    parts = body.split(b"\x00", 2)
    if len(parts) < 3:
        raise PngTextError(f"the iTXt chunk {name!r} is damaged")
    raw = _inflate(parts[2], max_chunk, name) if flag else parts[2]
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PngTextError(f"the iTXt chunk {name!r} is not UTF-8 text") from None


def _inflate(data: bytes, max_chunk: int, name: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, max_chunk)
    except zlib.error:
        raise PngTextError(f"the compressed text chunk {name!r} is damaged") from None
    if inflater.unconsumed_tail:
        raise PngTextError(f"the compressed text chunk {name!r} inflates to over the limit of "
                           f"{max_chunk >> 20} MB")
    return raw
