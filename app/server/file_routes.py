"""/view, /upload/image and /upload/mask: files in the input, output and temp folders only.

Every name goes through ``app.server.paths.confined``. An upload must decode as an image
(PNG, JPEG, WebP, GIF or BMP) of at most ``max_image_pixels`` pixels, checked from its
header before any pixel is decoded; the request itself is capped by ``max_body_bytes``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from app.server.paths import PathRefused, clean_filename, confined, split_annotation
from app.server.security import error_response
from app.server.state import state_of
from node_api.files import atomic_write, write_new
from pipelines.untrusted_json import JsonInputError, loads

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "BMP"}
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
        ".gif": "image/gif", ".bmp": "image/bmp", ".json": "application/json"}


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    config = state_of(request).config
    query = request.query
    if "filename" not in query:
        return error_response(404, "not_found", "no filename given")
    name, kind = split_annotation(query["filename"], query.get("type", "output") or "output")
    try:
        path = confined(config, kind, query.get("subfolder", ""), name)
    except PathRefused as exc:
        return error_response(400, "invalid_path", str(exc))
    if not path.is_file():
        return error_response(404, "not_found", f"{name!r} is not in the {kind} folder")
    headers = {"Content-Disposition": f'filename="{path.name}"',
               "Content-Type": MIME.get(path.suffix.lower(), "application/octet-stream")}
    return web.FileResponse(path, headers=headers)


class UploadRefused(ValueError):
    pass


def decode_image(data: bytes, max_pixels: int) -> Any:
    """The uploaded bytes as a loaded PIL image.

    Raises:
        UploadRefused: not an image we take, too many pixels, or broken.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(data))
        if picture.format not in IMAGE_FORMATS:
            raise UploadRefused(f"{picture.format} images are not accepted "
                                f"({', '.join(sorted(IMAGE_FORMATS))})")
        width, height = picture.size
        if width * height > max_pixels:
            raise UploadRefused(f"the image is {width}x{height}, more than "
                                f"{max_pixels} pixels")
        picture.load()
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError) as exc:
        raise UploadRefused(f"not a readable image ({exc})") from None
    return picture


def _field_text(post: Any, name: str, default: str = "") -> str:
    value = post.get(name, default)
    return value if isinstance(value, str) else default


def _store(folder: Path, name: str, data: bytes, overwrite: bool) -> str:
    """Write ``data`` as ``name`` in ``folder`` (or ``name (1)`` ... unless ``overwrite``);
    a file with the same bytes already there is reused. Returns the name written."""
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite:
        atomic_write(folder / name, data)
        return name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if dot else (name, "")
    candidates = [name, *(f"{stem} ({i}){ext}" for i in range(1, 10000))]
    for index, candidate in enumerate(candidates):
        target = folder / candidate
        if target.is_file():
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return candidate
            continue
        return write_new(folder, candidates[index:], data).name
    raise FileExistsError(f"too many files named like {name!r}")


async def _upload(request: web.Request, mask: bool) -> web.Response:
    config = state_of(request).config
    post = await request.post()
    image = post.get("image")
    if image is None or isinstance(image, str | bytes) or not getattr(image, "filename", ""):
        return error_response(400, "invalid_upload", "no image file in the form field 'image'")
    kind = _field_text(post, "type", "input") or "input"
    subfolder = _field_text(post, "subfolder")
    try:
        name = clean_filename(image.filename)
        path = confined(config, kind, subfolder, name)
        data = image.file.read()
        picture = decode_image(data, config.max_image_pixels)
        if mask:
            data = _apply_mask(request, post, picture)
    except (PathRefused, UploadRefused) as exc:
        return error_response(400, "invalid_upload", str(exc))
    overwrite = _field_text(post, "overwrite").lower() in ("true", "1")
    written = _store(path.parent, path.name, data, overwrite)
    return web.json_response({"name": written, "subfolder": subfolder, "type": kind})


def _apply_mask(request: web.Request, post: Any, mask: Any) -> bytes:
    """ComfyUI's mask upload: the original image with the uploaded picture's alpha."""
    from PIL import Image

    config = state_of(request).config
    try:
        ref = loads(_field_text(post, "original_ref"), max_chars=1 << 16)
    except JsonInputError as exc:
        raise UploadRefused(f"original_ref is not valid JSON: {exc}") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise UploadRefused("original_ref must name the original image (filename)")
    name, kind = split_annotation(ref["filename"], str(ref.get("type", "output")))
    original = confined(config, kind, str(ref.get("subfolder", "")), name)
    if not original.is_file():
        raise UploadRefused(f"the original image {name!r} is not in the {kind} folder")
    with Image.open(original) as opened:
        if opened.width * opened.height > config.max_image_pixels:
            raise UploadRefused("the original image has too many pixels")
        picture = opened.convert("RGBA")
    alpha = mask.convert("RGBA").getchannel("A")
    if alpha.size != picture.size:
        alpha = alpha.resize(picture.size)
    picture.putalpha(alpha)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    return await _upload(request, mask=False)


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    return await _upload(request, mask=True)
