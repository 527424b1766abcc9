"""WebSocket clients and what they are sent, in ComfyUI's frames.

Text frames are ``{"type": event, "data": {...}}``. A step preview is a binary frame:
a 4-byte big-endian event type (1, PREVIEW_IMAGE), a 4-byte image type (1 = JPEG) and the
JPEG bytes. Messages about a prompt go only to the client that queued it (its
``client_id``), or to everyone when it gave none; ``status`` goes to everyone.

The worker thread posts messages with ``post`` (thread-safe); one sender task on the event
loop sends them in the order they were posted.
"""

from __future__ import annotations

import asyncio
import io
import logging
import struct
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
PREVIEW_IMAGE = 1  # ComfyUI's BinaryEventTypes.PREVIEW_IMAGE
JPEG = 1


def preview_frame(preview: Any, max_size: int = 512) -> bytes | None:
    """The binary frame of a step preview (HxWx3 uint8), or None if it cannot be encoded."""
    try:
        import numpy as np
        from PIL import Image

        array = np.asarray(preview)
        if array.dtype != np.uint8:
            array = np.clip(array, 0, 255).astype(np.uint8)
        picture = Image.fromarray(array).convert("RGB")
        picture.thumbnail((max_size, max_size))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=95)
    except Exception:  # a preview is a nicety: never let it break the run
        log.debug("preview not encodable", exc_info=True)
        return None
    return struct.pack(">I", PREVIEW_IMAGE) + struct.pack(">I", JPEG) + buffer.getvalue()


Message = tuple[str | None, str, Any]  # (client id or None for everyone, event, data)


class Clients:
    """The connected WebSocket clients by id, and the ordered outgoing messages."""

    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Message | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._send_loop())

    async def close_sockets(self, app: object = None) -> None:
        """Close every client socket (on shutdown: an open socket would hold it up)."""
        for ws in list(self.sockets.values()):
            await ws.close()

    async def stop(self) -> None:
        if self._queue is not None and self._task is not None:
            self._queue.put_nowait(None)
            await self._task
        for ws in list(self.sockets.values()):
            await ws.close()

    def post(self, event: str, data: Any, sid: str | None = None) -> None:
        """Queue a message from any thread (a JSON-able dict, or bytes for a binary frame)."""
        if self._loop is None or self._queue is None or self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (sid, event, data))
        except RuntimeError:  # the loop is shutting down
            pass

    async def _send_loop(self) -> None:
        assert self._queue is not None
        while (message := await self._queue.get()) is not None:
            sid, event, data = message
            targets = [self.sockets[sid]] if sid in self.sockets else (
                [] if sid is not None else list(self.sockets.values()))
            for ws in targets:
                await self._send(ws, event, data)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, event: str, data: Any) -> None:
        try:
            if isinstance(data, bytes | bytearray):
                await ws.send_bytes(bytes(data))
            else:
                await ws.send_json({"type": event, "data": data})
        except (ConnectionError, RuntimeError) as exc:  # the client went away
            log.info("websocket send failed: %s", exc)
