"""``serve --cluster local``: the websocket example's prompt runs on a Ray actor."""

from __future__ import annotations

import io
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
