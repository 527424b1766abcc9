"""ComfyUI's websocket example, unmodified in spirit, against our server and demo model."""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import Image

from tests.server.comfy_client import ComfyClient
from tests.server.conftest import default_prompt


def _types(seen: list[Any]) -> list[str]:
    return [m["type"] if isinstance(m, dict) else "<binary>" for m in seen]


def _of(seen: list[Any], kind: str) -> list[dict[str, Any]]:
    return [m["data"] for m in seen if isinstance(m, dict) and m["type"] == kind]


def test_the_websocket_example_generates_an_image(start_server: Any) -> None:
    server = start_server()
    client = ComfyClient(f"127.0.0.1:{server.port}")
    ws = client.connect()
    prompt = default_prompt(steps=2)
    prompt["20"] = {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}}
    images, seen = client.get_images(prompt)
    ws.close()

    assert sorted(images) == ["20", "9"]  # Save and Preview Image, under the prompt's ids
    picture = Image.open(io.BytesIO(images["9"][0]))
    assert picture.format == "PNG" and picture.size == (256, 256)  # 64 px, upscaled 4x

    kinds = _types(seen)
    assert kinds[0] == "status"
    assert _of(seen, "status")[0]["sid"] == client.client_id
    assert kinds.index("execution_start") < kinds.index("execution_success")
    executing = [d["node"] for d in _of(seen, "executing")]
    assert executing[:1] != [None] and executing[-1] is None
    assert {"1", "2", "3", "4", "6", "7", "8", "9"} <= set(executing[:-1])
    progress = _of(seen, "progress")
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 2, "6"), (2, 2, "6")]
    executed = {e["node"]: e["output"]["images"] for e in _of(seen, "executed")}
    assert executed["9"][0]["type"] == "output" and executed["20"][0]["type"] == "temp"
    assert Image.open(io.BytesIO(images["20"][0])).size == (64, 64)
    assert _of(seen, "execution_cached")[0]["nodes"] == []  # a fresh server: nothing cached
    assert kinds.index("execution_cached") < kinds.index("executing")
    previews = [m for m in seen if isinstance(m, bytes)]
    assert previews, "step previews come as binary frames"
    event, image_type = struct.unpack(">II", previews[0][:8])
    assert (event, image_type) == (1, 1)  # PREVIEW_IMAGE, JPEG
    assert Image.open(io.BytesIO(previews[0][8:])).format == "JPEG"

    entry = client.get_history(_of(seen, "execution_start")[0]["prompt_id"])
    (prompt_id, item), = entry.items()
    assert item["status"]["status_str"] == "success" and item["status"]["completed"]
    assert item["prompt"][1] == prompt_id and sorted(item["prompt"][4]) == ["20", "9"]
    assert item["outputs"]["9"]["images"][0]["filename"].endswith(".png")
    assert prompt_id in client.get_json("/history")
    assert client.get_json("/queue") == {"queue_running": [], "queue_pending": []}


def test_two_prompts_run_in_order_and_a_new_seed_reruns_only_the_sampler(
        start_server: Any) -> None:
    server = start_server()
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()
    first = client.queue_prompt(default_prompt(steps=2, seed=1))
    second = client.queue_prompt(default_prompt(steps=2, seed=2))
    assert second["number"] == first["number"] + 1 and first["node_errors"] == {}

    seen_first = client.messages_until_done(first["prompt_id"])
    seen_second = client.messages_until_done(second["prompt_id"])
    assert _of(seen_first, "execution_success")[0]["prompt_id"] == first["prompt_id"]
    assert _of(seen_second, "execution_success")[0]["prompt_id"] == second["prompt_id"]
    cached = [n for d in _of(seen_second, "execution_cached") for n in d["nodes"]]
    # the loader, both prompts and the empty latent come from the shared cache ...
    assert set(cached) == {"1", "2", "3", "4"}
    ran = {d["node"] for d in _of(seen_second, "executing")} - {None}
    # ... and only the sampler (its seed) and what follows it ran again
    assert ran == {"6", "7", "8", "9"}
    statuses = [d["status"]["exec_info"]["queue_remaining"] for d in _of(seen_first, "status")]
    assert max(statuses) >= 1  # the queue count reaches the client as prompts come and go
    history = client.get_json("/history")
    assert list(history)[-2:] == [first["prompt_id"], second["prompt_id"]]

    # /free forgets the cached results: the same prompt again runs every node
    assert client.post_json("/free", {"free_memory": True}) == 200
    third = client.queue_prompt(default_prompt(steps=2, seed=2))
    seen_third = client.messages_until_done(third["prompt_id"])
    assert [n for d in _of(seen_third, "execution_cached") for n in d["nodes"]] == []


def test_a_nodes_message_reaches_the_client_and_the_history(start_server: Any,
                                                           monkeypatch: Any) -> None:
    """Acceleration asked for where it cannot work (no C++ compiler): the sampler's warning
    comes over the socket as our own message type and stays in the history's status."""
    from app.engine import run_settings
    from pipelines.speed import accelerate

    monkeypatch.setattr(run_settings, "workflow_accelerate", lambda _metadata: "max")
    monkeypatch.setattr(accelerate.shutil, "which", lambda _name: None)
    server = start_server()
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()
    queued = client.queue_prompt(default_prompt(steps=2))
    seen = client.messages_until_done(queued["prompt_id"])
    said = _of(seen, "studio.message")
    assert len(said) == 1  # once per run
    assert said[0]["prompt_id"] == queued["prompt_id"] and said[0]["node"] == "6"
    assert said[0]["level"] == "warning"
    assert "acceleration 'max' is not available here" in said[0]["text"]
    assert _of(seen, "execution_success")  # the run goes on without it
    kinds = _types(seen)
    assert kinds.index("execution_start") < kinds.index("studio.message") < kinds.index(
        "execution_success")
    entry = client.get_history(queued["prompt_id"])[queued["prompt_id"]]
    kept = [data for kind, data in entry["status"]["messages"] if kind == "studio.message"]
    assert kept == said
