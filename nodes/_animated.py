"""Saving a batch of images as one animated file (WebP, PNG or GIF), with the workflow
embedded where the format allows, claimed atomically and never overwriting (as Save Image)."""

from __future__ import annotations

import io
import itertools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

FORMATS: tuple[str, ...] = ("webp", "png", "gif")
WEBP_WORKFLOW_TAG = 0x010F  # EXIF "Make": "workflow:<json>", where ComfyUI puts its own
WEBP_PARAMETERS_TAG = 0x010E  # EXIF "ImageDescription": the generation parameters


def _workflow_text(workflow: dict[str, Any] | None) -> str:
    from node_api.files import MAX_WORKFLOW_CHARS

    text = json.dumps(workflow) if workflow else ""
    if len(text) > MAX_WORKFLOW_CHARS:
        logging.getLogger(__name__).warning(
            "the workflow (%s characters) is too large to embed; the animation is saved "
            "without it (save the workflow itself as .json)", f"{len(text):,}")
        return ""
    return text


def encode_animation(image: Tensor, fmt: str, fps: float, workflow: dict[str, Any] | None,
                     lossless: bool = True, quality: int = 80, method: int = 4,
                     compress_level: int = 4) -> bytes:
    """The bytes of an animated ``fmt`` file, one frame per image, ``1000 / fps`` ms each
    (ComfyUI's SaveAnimatedWEBP / SaveAnimatedPNG settings; GIF loops, without metadata).

    Raises:
        ValueError: an unknown format or a frame rate of 0.
    """
    from PIL import PngImagePlugin

    from node_api.files import PNG_CHUNK, PNG_PARAMETERS_CHUNK
    from nodes._images import parameters_text
    from pipelines.image import to_pil

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fps <= 0:
        raise ValueError(f"the frame rate must be above 0, got {fps}")
    frames = to_pil(image)
    text = _workflow_text(workflow)
    # a lone surrogate (from a damaged import) cannot be UTF-8: shown as U+FFFD
    parameters = parameters_text(workflow).encode("utf-8", "replace").decode("utf-8")
    options: dict[str, Any] = {"save_all": True, "append_images": frames[1:],
                               "duration": int(1000.0 / fps)}
    if fmt == "webp":
        exif = frames[0].getexif()
        if text:
            exif[WEBP_WORKFLOW_TAG] = f"workflow:{text}"
            exif[WEBP_PARAMETERS_TAG] = f"parameters:{parameters}"
        options.update(exif=exif, lossless=lossless, quality=quality, method=method)
    elif fmt == "png":
        info = PngImagePlugin.PngInfo()
        if text:
            info.add_itxt(PNG_CHUNK, text)
            info.add_itxt(PNG_PARAMETERS_CHUNK, parameters)
        options.update(pnginfo=info, compress_level=compress_level)
    else:
        options.update(loop=0)
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def save_animated(image: Tensor, folder: Path, prefix: str, workflow: dict[str, Any] | None,
                  fmt: str, fps: float, **settings: Any) -> Path:
    """Write the animation as ``prefix_00001.<fmt>`` in ``folder``: the name is claimed
    atomically (``node_api.files.write_new``), so nothing is ever overwritten."""
    from node_api.files import clean_stale_temps, write_new

    data = encode_animation(image, fmt, fps, workflow, **settings)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(folder)
    safe = "".join(c for c in prefix if c.isalnum() or c in "-_ ").strip() or "animation"
    numbers = [int(tail) for existing in folder.glob(f"{safe}_*.{fmt}")
               if (tail := existing.stem[len(safe) + 1:]).isdigit()]
    start = max(numbers, default=0) + 1
    return write_new(folder, (f"{safe}_{n:05d}.{fmt}" for n in itertools.count(start)), data)
