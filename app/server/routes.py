"""The queue endpoints: /prompt, /queue, /interrupt, /history and the /ws socket."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from app.server.prompt import PromptRefused, prepare
from app.server.security import error_response
from app.server.state import BadRequest, read_json, state_of

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    state = state_of(request)
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    sid = request.query.get("clientId", "") or uuid.uuid4().hex
    state.clients.sockets[sid] = ws  # a reconnect under the same id replaces the old socket
    try:
        state.clients.post("status", {"status": state.queue_info(), "sid": sid}, sid)
        if (executing := state.worker.executing(sid)) is not None:  # a reconnect mid-run
            state.clients.post("executing", executing, sid)
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                log.info("websocket closed with %s", ws.exception())
    finally:
        if state.clients.sockets.get(sid) is ws:
            del state.clients.sockets[sid]
    return ws


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).queue_info())


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
    except BadRequest as exc:
        return exc.response
    if "prompt" not in body:
        return web.json_response({"error": {"type": "no_prompt", "message": "no prompt",
                                            "details": "", "extra_info": {}},
                                  "node_errors": {}}, status=400)
    prompt = body["prompt"]
    try:
        prepared = await asyncio.to_thread(prepare, prompt, state.registry, state.config)
    except PromptRefused as exc:
        log.info("refused a prompt: %s", exc)
        return web.json_response(exc.body, status=400)
    extra = body.get("extra_data")
    extra_data: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
    if isinstance(body.get("client_id"), str):
        extra_data["client_id"] = body["client_id"]
    number: float
    given = body.get("number")
    if isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given):
        number = float(given)
    else:
        number = state.queue.next_number(front=bool(body.get("front")))
    prompt_id = body.get("prompt_id")
    if not isinstance(prompt_id, str) or not prompt_id or len(prompt_id) > 200:
        prompt_id = str(uuid.uuid4())
    item = state.queue.put(number, prompt_id, {str(k): v for k, v in prompt.items()},
                           extra_data, prepared.outputs)
    answer: dict[str, Any] = {"prompt_id": prompt_id, "number": item.as_list()[0],
                              "node_errors": {}}
    if prepared.notes:  # not ComfyUI's: what the import changed (a sampler it lacks, ...)
        answer["warnings"] = prepared.notes
    return web.json_response(answer)


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    running, pending = state_of(request).queue.current()
    return web.json_response({"queue_running": running, "queue_pending": pending})


def _ids(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


async def _clear_or_delete(request: web.Request, store: Any) -> web.Response:
    """ComfyUI's ``{"clear": true}`` / ``{"delete": [ids]}`` body on the queue or history."""
    try:
        body = await read_json(request)
    except BadRequest as exc:
        return exc.response
    if body.get("clear"):
        store.clear()
    if "delete" in body:
        store.delete(_ids(body["delete"]))
    return web.Response(status=200)


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    return await _clear_or_delete(request, state_of(request).queue)


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    state = state_of(request)
    prompt_id = None
    if request.can_read_body:
        try:
            body = await read_json(request)
        except BadRequest as exc:
            return exc.response
        prompt_id = body.get("prompt_id") if isinstance(body.get("prompt_id"), str) else None
    state.worker.interrupt(prompt_id)
    return web.Response(status=200)


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    try:
        body = await read_json(request)
    except BadRequest as exc:
        return exc.response
    if body.get("unload_models") or body.get("free_memory"):
        state_of(request).worker.free(unload_models=bool(body.get("unload_models")))
    return web.Response(status=200)


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    try:
        max_items = int(request.query["max_items"]) if "max_items" in request.query else None
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        return error_response(400, "invalid_query", "max_items and offset must be integers")
    return web.json_response(state_of(request).history.get(max_items=max_items, offset=offset))


@routes.get("/history/{prompt_id}")
async def get_history_item(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).history.get(request.match_info["prompt_id"]))


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    return await _clear_or_delete(request, state_of(request).history)
