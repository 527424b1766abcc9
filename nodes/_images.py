"""Image file helpers for the image nodes: loading, and saving PNGs that embed the workflow."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

IMAGE_MAX_BYTES = 512 << 20  # far above any real PNG/JPEG/WebP a sampler can take


def find_image(path: str, output_dir: str | Path | None = None) -> Path:
    """The image file ``path`` names: relative names in the input folder first, then the
    current folder; it must lie in the folders Load Image may read (see
    ``pipelines.loading.file_policy``) and be a regular file under the size cap.

    Raises:
        FileNotFoundError: missing (a ``FileRefused`` when outside those folders or not a
            regular file).
    """
    from pipelines.loading.file_policy import check_regular, confine, input_dir
    from pipelines.loading.folders import image_roots

    if not path or not path.strip():
        raise FileNotFoundError("no image chosen (the path is empty)")
    file = Path(path).expanduser()
    if not file.is_absolute() and os.path.lexists(input_dir() / file):
        file = input_dir() / file
    if not os.path.lexists(file):
        raise FileNotFoundError(f"image file {path!r} not found")
    confine(file, image_roots(output_dir), "image", path)
    check_regular(file, "image", max_bytes=IMAGE_MAX_BYTES)
    return file


def load(path: str, output_dir: str | Path | None = None) -> tuple[Tensor, Tensor]:
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    file = find_image(path, output_dir)
    try:
        with Image.open(file) as opened:
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{file} is not a readable image ({exc})") from None
    rgba = np.asarray(picture.convert("RGBA"), dtype=np.float32) / 255.0
    image = torch.from_numpy(rgba[..., :3].copy())[None]
    mask = 1.0 - torch.from_numpy(rgba[..., 3].copy())[None]
    return image, mask


def parameters_text(workflow: dict[str, Any] | None) -> str:
    """A human-readable summary in the common 'parameters' style (prompt, settings)."""
    if not workflow:
        return ""
    nodes = {n["id"]: n for n in workflow.get("nodes", [])}
    links = workflow.get("links", [])

    def source(target: str, port: str) -> dict[str, Any] | None:
        for link in links:
            if link["target"] == target and link["input"] == port:
                return nodes.get(link["source"])
        return None

    lines: list[str] = []
    for n in nodes.values():
        if n["type"] != "sampling.sampler":
            continue
        values = n.get("values", {})
        positive = source(n["id"], "positive") or {}
        negative = source(n["id"], "negative") or {}
        noise = source(n["id"], "noise") or {}
        model = source(n["id"], "model") or {}
        lines.append(positive.get("values", {}).get("text", ""))
        lines.append(f"Negative prompt: {negative.get('values', {}).get('text', '')}")
        settings = {
            "Steps": values.get("steps"),
            "Sampler": values.get("sampler"),
            "Schedule type": values.get("schedule"),
            "CFG scale": values.get("cfg"),
            "Seed": noise.get("values", {}).get("seed"),
            "Denoising strength": values.get("denoise"),
            "Model": model.get("values", {}).get("checkpoint"),
        }
        lines.append(", ".join(f"{k}: {v}" for k, v in settings.items() if v is not None))
    return "\n".join(lines)


def save(image: Tensor, folder: Path, prefix: str, workflow: dict[str, Any] | None) -> list[Path]:
    """Write each image as ``prefix_00001.png``, atomically and never overwriting.

    Each name is claimed atomically (see :func:`node_api.files.write_new`), so
    processes saving into one folder at the same time never lose an image.
    """
    import io
    import itertools

    from PIL import PngImagePlugin

    from node_api.files import (
        MAX_WORKFLOW_CHARS,
        PNG_CHUNK,
        PNG_PARAMETERS_CHUNK,
        clean_stale_temps,
        write_new,
    )
    from pipelines.image import to_pil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(folder)
    safe = "".join(c for c in prefix if c.isalnum() or c in "-_ ") .strip() or "image"
    info = PngImagePlugin.PngInfo()
    text = json.dumps(workflow) if workflow else ""
    if len(text) > MAX_WORKFLOW_CHARS:  # it could not be opened again: keep only the image
        logging.getLogger(__name__).warning(
            "the workflow (%s characters) is larger than the %s that a PNG can carry; the "
            "image is saved without it (save the workflow itself as .json)",
            f"{len(text):,}", f"{MAX_WORKFLOW_CHARS:,}")
    elif text:
        info.add_itxt(PNG_CHUNK, text)
        # a lone surrogate (from a damaged import) cannot be UTF-8: shown as U+FFFD
        parameters = parameters_text(workflow).encode("utf-8", "replace").decode("utf-8")
        info.add_itxt(PNG_PARAMETERS_CHUNK, parameters)
    written: list[Path] = []
    counter = _next_counter(folder, safe)
    for picture in to_pil(image):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", pnginfo=info)
        names = (f"{safe}_{n:05d}.png" for n in itertools.count(counter))
        path = write_new(folder, names, buffer.getvalue())
        written.append(path)
        counter = int(path.stem[len(safe) + 1:]) + 1
    return written


def _next_counter(folder: Path, prefix: str) -> int:
    numbers = []
    for existing in folder.glob(f"{prefix}_*.png"):
        tail = existing.stem[len(prefix) + 1 :]
        if tail.isdigit():
            numbers.append(int(tail))
    return max(numbers, default=0) + 1
