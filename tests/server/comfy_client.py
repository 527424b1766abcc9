"""A client written the way ComfyUI's ``script_examples/websockets_api_example.py`` is:
urllib for HTTP, ``websocket-client`` for the socket, nothing that knows our engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import websocket  # websocket-client


class ComfyClient:
    def __init__(self, server_address: str, token: str | None = None) -> None:
        self.server_address = server_address
        self.client_id = str(uuid.uuid4())
        self.token = token
        self.ws: websocket.WebSocket | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def connect(self) -> websocket.WebSocket:
        ws = websocket.WebSocket()
        ws.settimeout(120)
        ws.connect(f"ws://{self.server_address}/ws?clientId={self.client_id}",
                   header=[f"{k}: {v}" for k, v in self._headers().items()])
        self.ws = ws
        return ws

    def queue_prompt(self, prompt: dict[str, Any], **extra: Any) -> dict[str, Any]:
        p = {"prompt": prompt, "client_id": self.client_id, **extra}
        data = json.dumps(p).encode("utf-8")
        req = urllib.request.Request(f"http://{self.server_address}/prompt", data=data,
                                     headers=self._headers())
        return json.loads(urllib.request.urlopen(req).read())

    def get_image(self, filename: str, subfolder: str, folder_type: str) -> bytes:
        data = {"filename": filename, "subfolder": subfolder, "type": folder_type}
        url_values = urllib.parse.urlencode(data)
        req = urllib.request.Request(f"http://{self.server_address}/view?{url_values}",
                                     headers=self._headers())
        with urllib.request.urlopen(req) as response:
            return response.read()

    def get_json(self, path: str) -> Any:
        req = urllib.request.Request(f"http://{self.server_address}{path}",
                                     headers=self._headers())
        with urllib.request.urlopen(req) as response:
            return json.loads(response.read())

    def post_json(self, path: str, body: Any) -> int:
        req = urllib.request.Request(f"http://{self.server_address}{path}",
                                     data=json.dumps(body).encode(), headers=self._headers())
        with urllib.request.urlopen(req) as response:
            return response.status

    def get_history(self, prompt_id: str) -> dict[str, Any]:
        return self.get_json(f"/history/{prompt_id}")

    def messages_until_done(self, prompt_id: str) -> list[Any]:
        """Every frame until ``executing`` with node None for ``prompt_id`` (text frames
        parsed, binary frames as bytes), as the example's loop reads them."""
        assert self.ws is not None
        seen: list[Any] = []
        while True:
            out = self.ws.recv()
            if isinstance(out, str):
                message = json.loads(out)
                seen.append(message)
                if message["type"] == "executing":
                    data = message["data"]
                    if data["node"] is None and data["prompt_id"] == prompt_id:
                        return seen
            else:
                seen.append(out)

    def get_images(self, prompt: dict[str, Any]) -> tuple[dict[str, list[bytes]], list[Any]]:
        """The example's ``get_images``: queue, follow to the end, fetch every output."""
        prompt_id = self.queue_prompt(prompt)["prompt_id"]
        seen = self.messages_until_done(prompt_id)
        output_images: dict[str, list[bytes]] = {}
        history = self.get_history(prompt_id)[prompt_id]
        for node_id in history["outputs"]:
            node_output = history["outputs"][node_id]
            if "images" in node_output:
                output_images[node_id] = [
                    self.get_image(i["filename"], i["subfolder"], i["type"])
                    for i in node_output["images"]]
        return output_images, seen


def http_error(call: Any) -> urllib.error.HTTPError:
    """The HTTPError ``call()`` raises (the test fails if it does not)."""
    try:
        call()
    except urllib.error.HTTPError as exc:
        return exc
    raise AssertionError("the request succeeded")


def error_json(exc: urllib.error.HTTPError) -> Any:
    return json.loads(exc.read())
