"""A server on a free local port, on a background thread, with temporary folders."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.server.app import ServerThread
from app.server.config import ServerConfig

pytest.importorskip("websocket")


def server_config(root: Path, **kwargs: Any) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, data_dir=root / "data",
                        input_dir=root / "input", output_dir=root / "output", device="cpu",
                        **kwargs)


@pytest.fixture
def start_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``start_server(**config)`` -> a started ServerThread; all stopped at the end."""
    from pipelines.loading.file_policy import INPUT_ENV

    monkeypatch.setenv(INPUT_ENV, str(tmp_path / "input"))
    started: list[ServerThread] = []

    def start(**kwargs: Any) -> ServerThread:
        server = ServerThread(server_config(tmp_path, **kwargs)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


_DEFAULT: dict[str, Any] = {}


def default_prompt(steps: int = 2, seed: int = 42) -> dict[str, Any]:
    """The built-in demo model's default workflow in ComfyUI's API format (our exporter)."""
    if not _DEFAULT:
        from app.interop.comfy_export import to_comfy_api
        from app.interop.open import open_workflow

        root = Path(__file__).resolve().parents[2]
        _DEFAULT.update(to_comfy_api(open_workflow(root / "resources/workflows/default.json")))
    prompt = copy.deepcopy(_DEFAULT)
    sampler = next(k for k, v in prompt.items() if v["class_type"] == "KSampler")
    prompt[sampler]["inputs"].update(steps=steps, seed=seed)
    return prompt
