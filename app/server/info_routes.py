"""What a client asks before it queues: /object_info, /system_stats, /embeddings, /models."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
from typing import Any

from aiohttp import web

from app.server.security import error_response
from app.server.state import state_of

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
VERSION = "diffusion-studio 0.1.0"


def _object_info(state: Any) -> dict[str, dict[str, Any]]:
    """ComfyUI object_info of the classes we map; {} while that describer is not installed."""
    try:
        from app.interop.comfy_object_info import object_info
    except ImportError:
        return {}
    return object_info(state.registry)


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    info = await asyncio.to_thread(_object_info, state_of(request))
    return web.json_response(info)


@routes.get("/object_info/{node_class}")
async def object_info_node(request: web.Request) -> web.Response:
    info = await asyncio.to_thread(_object_info, state_of(request))
    name = request.match_info["node_class"]
    return web.json_response({name: info[name]} if name in info else {})


def _memory() -> tuple[int, int]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0


def _system_stats(device: str) -> dict[str, Any]:
    import torch

    ram_total, ram_free = _memory()
    entry: dict[str, Any] = {"name": device, "type": device, "index": None, "vram_total": 0,
                             "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}
    if device == "cuda" and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        index = torch.cuda.current_device()
        entry.update(name=f"cuda:{index} {torch.cuda.get_device_name(index)}", index=index,
                     vram_total=total, vram_free=free,
                     torch_vram_total=torch.cuda.memory_reserved(index),
                     torch_vram_free=torch.cuda.memory_reserved(index)
                     - torch.cuda.memory_allocated(index))
    elif device == "cpu":
        entry.update(vram_total=ram_total, vram_free=ram_free)
    return {"system": {"os": os.name, "ram_total": ram_total, "ram_free": ram_free,
                       "comfyui_version": VERSION, "python_version": sys.version,
                       "pytorch_version": torch.__version__, "embedded_python": False,
                       "platform": platform.platform(), "argv": ["main.py", "serve"]},
            "devices": [entry]}


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    from app.engine.devices import resolve_device

    def stats() -> dict[str, Any]:
        return _system_stats(resolve_device(state_of(request).config.device))

    return web.json_response(await asyncio.to_thread(stats))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    from app.interop.comfy_folders import embeddings_list

    return web.json_response(await asyncio.to_thread(embeddings_list))


@routes.get("/models")
async def model_kinds(request: web.Request) -> web.Response:
    from app.interop.comfy_folders import folder_names

    return web.json_response(folder_names())


@routes.get("/models/{folder}")
async def models(request: web.Request) -> web.Response:
    """ComfyUI's folder names (and its older aliases) onto our model folders; a folder we
    keep nothing in lists nothing, an unknown one is a 404."""
    from app.interop.comfy_folders import models_list
    from pipelines.loading.folders import ModelFolderConfigError

    folder = request.match_info["folder"]
    try:
        names = await asyncio.to_thread(models_list, folder)
    except ModelFolderConfigError as exc:
        return error_response(500, "model_folder_config", str(exc))
    if names is None:
        return error_response(404, "not_found", f"no model folder {folder!r}")
    return web.json_response(names)
