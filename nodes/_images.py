"""Image file helpers for the image nodes: loading, and saving PNGs that embed the workflow."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any


def load(path: str):
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    file = Path(path).expanduser()
    if not path or not file.is_file():
        raise FileNotFoundError(f"image file {path!r} not found")
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


def save(image, folder: Path, prefix: str, workflow: dict[str, Any] | None) -> list[Path]:
    """Write each image as ``prefix_00001.png`` (never overwriting), atomically."""
    import io

    from PIL import PngImagePlugin

    from app.engine.workflow import (
        MAX_WORKFLOW_CHARS,
        PNG_CHUNK,
        PNG_PARAMETERS_CHUNK,
        atomic_write,
    )
    from pipelines.image import to_pil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
        info.add_itxt(PNG_PARAMETERS_CHUNK, parameters_text(workflow))
    written: list[Path] = []
    counter = _next_counter(folder, safe)
    for picture in to_pil(image):
        while (path := folder / f"{safe}_{counter:05d}.png").exists():
            counter += 1
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", pnginfo=info)
        atomic_write(path, buffer.getvalue())
        written.append(path)
        counter += 1
    return written


def _next_counter(folder: Path, prefix: str) -> int:
    numbers = []
    for existing in folder.glob(f"{prefix}_*.png"):
        tail = existing.stem[len(prefix) + 1 :]
        if tail.isdigit():
            numbers.append(int(tail))
    return max(numbers, default=0) + 1
