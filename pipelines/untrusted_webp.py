"""The text a WebP file carries in its EXIF chunk, read with caps: ComfyUI's SaveAnimatedWEBP
(and our Save Animated) write ``"<name>:<text>"`` into EXIF tags (0x010F "workflow:...",
0x0110 "prompt:...", counting down from 0x010F for further names).

Only the RIFF chunk headers are walked and only the EXIF chunk is read (its size checked from
its header first); no frame is decoded. The EXIF block itself is parsed by Pillow's TIFF reader.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

RIFF, WEBP, EXIF = b"RIFF", b"WEBP", b"EXIF"
MAX_EXIF_BYTES = 64 * 1024 * 1024
_TAGS = range(0x0100, 0x0111)  # ComfyUI counts down from 0x010F; 0x0110 holds the prompt


class WebpTextError(ValueError):
    """The WebP's EXIF text cannot be read; the message says why."""


def is_webp(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == RIFF and head[8:12] == WEBP


def read_webp_text(path: str | Path, max_exif_bytes: int = MAX_EXIF_BYTES) -> dict[str, str]:
    """``{name: text}`` from the EXIF tags of a WebP file (empty when it has none).

    Raises:
        WebpTextError: not a WebP, a broken chunk list, or an EXIF chunk over the cap.
    """
    with open(path, "rb") as file:
        head = file.read(12)
        if not is_webp(head):
            raise WebpTextError("not a WebP file")
        end = 8 + struct.unpack("<I", head[4:8])[0]
        while file.tell() + 8 <= end:
            header = file.read(8)
            if len(header) < 8:
                break
            kind, size = header[:4], struct.unpack("<I", header[4:])[0]
            if kind == EXIF:
                if size > max_exif_bytes:
                    raise WebpTextError(f"its EXIF chunk of {size:,} bytes is over the limit "
                                        f"of {max_exif_bytes:,}")
                data = file.read(size)
                if len(data) < size:
                    raise WebpTextError("its EXIF chunk is cut short")
                return _exif_text(data)
            file.seek(size + (size & 1), io.SEEK_CUR)
    return {}


def _exif_text(data: bytes) -> dict[str, str]:
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception as exc:  # Pillow's TIFF reader raises many kinds on damaged data
        raise WebpTextError(f"its EXIF data is damaged ({type(exc).__name__})") from None
    texts: dict[str, str] = {}
    for tag in _TAGS:
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and ":" in value:
            name, text = value.split(":", 1)
            texts.setdefault(name, text)
    return texts
