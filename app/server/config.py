"""The server's settings: where it listens, its folders and its size limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

MB = 1 << 20


def default_data_dir() -> Path:
    """``<user data>/server``: history and the temp folder of previews."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("diffusion-studio", appauthor=False)) / "server"


def default_input_dir() -> Path:
    from pipelines.loading.file_policy import input_dir

    return input_dir()


@dataclass
class ServerConfig:
    """What ``main.py serve`` was told; tests build one with temporary folders.

    ``input_dir`` must be the folder Load Image looks names up in
    (``pipelines.loading.file_policy.input_dir``, ``$STUDIO_INPUT``): ``serve`` sets that
    variable from it, so uploaded names resolve for the nodes.
    """

    host: str = "127.0.0.1"
    port: int = 8188
    token: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    input_dir: Path = field(default_factory=default_input_dir)
    output_dir: Path = field(default_factory=lambda: Path("output"))
    device: str = "auto"
    cluster: str | None = None  # a Ray address: prompts run there (app.server.cluster)
    max_body_bytes: int = 100 * MB  # the whole request (uploads); ComfyUI's default too
    max_json_bytes: int = 16 * MB  # a prompt; far above any real workflow
    max_image_pixels: int = 64 * MB  # an upload decoding to more pixels is refused
    max_history: int = 1000
    previews: bool = True

    @property
    def temp_dir(self) -> Path:
        return self.data_dir / "temp"

    @property
    def history_file(self) -> Path:
        return self.data_dir / "history.json"

    def folder(self, kind: str) -> Path | None:
        """The folder of a ComfyUI file type (``input``, ``output``, ``temp``)."""
        return {"input": self.input_dir, "output": self.output_dir,
                "temp": self.temp_dir}.get(kind)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.x, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
