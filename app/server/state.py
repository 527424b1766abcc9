"""What every handler reaches: the settings, the queue, the history, the clients, the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from app.engine.registry import Registry
from app.server.config import ServerConfig
from app.server.history import History
from app.server.messages import Clients
from app.server.prompt_queue import PromptQueue
from app.server.security import error_response
from app.server.worker import Worker
from pipelines.untrusted_json import JsonInputError, loads


@dataclass
class ServerState:
    config: ServerConfig
    registry: Registry
    queue: PromptQueue
    history: History
    clients: Clients
    worker: Worker

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}


STATE = web.AppKey("state", ServerState)


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE]


class BadRequest(Exception):
    """A request body the server cannot use; ``response`` says why, in JSON."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, parsed with size and nesting limits.

    Raises:
        BadRequest: too large (413), not JSON or not an object (400).
    """
    limit = state_of(request).config.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(error_response(413, "request_too_large",
                                        f"the JSON body is larger than {limit} bytes"))
    data = await request.read()
    if len(data) > limit:
        raise BadRequest(error_response(413, "request_too_large",
                                        f"the JSON body is larger than {limit} bytes"))
    try:
        value = loads(data, max_chars=limit)
    except JsonInputError as exc:
        raise BadRequest(error_response(400, "invalid_json",
                                        f"the body is not valid JSON: {exc}")) from None
    if not isinstance(value, dict):
        raise BadRequest(error_response(400, "invalid_json", "the body must be a JSON object"))
    return value
