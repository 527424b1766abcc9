"""``serve --cluster local``: the websocket example's prompt runs on a Ray actor."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from tests.server.comfy_client import ComfyClient
from tests.server.conftest import default_prompt


def test_a_prompt_runs_on_the_cluster_and_its_image_comes_back(start_server: Any) -> None:
    pytest.importorskip("ray")
    server = start_server(cluster="local")
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()
    images, seen = client.get_images(default_prompt(steps=2))
    assert Image.open(io.BytesIO(images["9"][0])).size == (256, 256)
    kinds = [m["type"] for m in seen if isinstance(m, dict)]
    assert "execution_success" in kinds and "executed" in kinds
    (name,) = [p.name for p in server.config.output_dir.iterdir()]
    assert name.startswith("p") and name.endswith(".png")


def test_an_interrupted_cluster_prompt_leaves_the_cluster_usable(start_server: Any) -> None:
    pytest.importorskip("ray")
    server = start_server(cluster="local")
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()
    long = client.queue_prompt(default_prompt(steps=400))
    after = client.queue_prompt(default_prompt(steps=2, seed=3))
    while not [i for i in client.get_json("/queue")["queue_running"] if i[1] == long["prompt_id"]]:
        time.sleep(0.05)
    client.post_json("/interrupt", {"prompt_id": long["prompt_id"]})
    seen = client.messages_until_done(long["prompt_id"])
    kinds = [m["type"] for m in seen if isinstance(m, dict)]
    assert "execution_interrupted" in kinds and "execution_success" not in kinds
    # a cancelled worker refuses later jobs: the server starts a fresh one
    rest = client.messages_until_done(after["prompt_id"])
    assert "execution_success" in [m["type"] for m in rest if isinstance(m, dict)]
