"""The queue over time: interrupt, delete, failures, and a history that outlives the server."""

from __future__ import annotations

import json
from typing import Any

from tests.server.comfy_client import ComfyClient
from tests.server.conftest import default_prompt


def _of(seen: list[Any], kind: str) -> list[dict[str, Any]]:
    return [m["data"] for m in seen if isinstance(m, dict) and m["type"] == kind]


def _until(client: ComfyClient, kind: str) -> dict[str, Any]:
    assert client.ws is not None
    while True:
        out = client.ws.recv()
        if isinstance(out, str) and (message := json.loads(out))["type"] == kind:
            return message["data"]


def test_interrupt_delete_failure_and_history_after_a_restart(start_server: Any) -> None:
    server = start_server()
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()
    long = client.queue_prompt(default_prompt(steps=400, seed=7))
    assert _until(client, "progress")["prompt_id"] == long["prompt_id"]  # it is running
    client.ws.close()  # a client that reconnects mid-run hears which node is running
    client.connect()
    assert _until(client, "status")["sid"] == client.client_id
    assert _until(client, "executing") == {"node": "6", "display_node": "6",
                                           "prompt_id": long["prompt_id"]}
    kept = client.queue_prompt(default_prompt(steps=2, seed=8))
    dropped = client.queue_prompt(default_prompt(steps=2, seed=9))
    assert client.post_json("/queue", {"delete": [dropped["prompt_id"]]}) == 200
    queue = client.get_json("/queue")
    assert [i[1] for i in queue["queue_running"]] == [long["prompt_id"]]
    assert [i[1] for i in queue["queue_pending"]] == [kept["prompt_id"]]
    assert queue["queue_pending"][0][2]["6"]["inputs"]["seed"] == 8  # the prompt, as sent

    assert client.post_json("/interrupt", {}) == 200
    seen = client.messages_until_done(long["prompt_id"])
    (interrupted,) = _of(seen, "execution_interrupted")
    assert interrupted["node_id"] == "6" and interrupted["node_type"] == "KSampler"
    assert len(_of(seen, "progress")) < 400 and not _of(seen, "execution_success")
    assert _of(client.messages_until_done(kept["prompt_id"]), "execution_success")

    (server.config.input_dir / "broken.png").write_bytes(b"not a picture")  # not uploaded
    broken = {"20": {"class_type": "LoadImage", "inputs": {"image": "broken.png"}},
              "21": {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}}}
    failed = client.queue_prompt(broken)
    (error,) = _of(client.messages_until_done(failed["prompt_id"]), "execution_error")
    assert error["node_id"] == "20" and error["node_type"] == "LoadImage"
    assert "broken.png" in error["exception_message"] and error["traceback"] == []

    history = client.get_json("/history")
    assert dropped["prompt_id"] not in history
    assert history[long["prompt_id"]]["status"]["status_str"] == "error"
    assert history[kept["prompt_id"]]["status"]["status_str"] == "success"
    assert history[failed["prompt_id"]]["status"]["messages"][-1][0] == "execution_error"
    server.stop()

    again = start_server()
    after = ComfyClient(f"127.0.0.1:{again.port}").get_json("/history")
    assert after == history
    outputs = after[kept["prompt_id"]]["outputs"]["9"]["images"][0]
    assert ComfyClient(f"127.0.0.1:{again.port}").get_image(
        outputs["filename"], outputs["subfolder"], outputs["type"]).startswith(b"\x89PNG")
