"""What a running node can reach: progress reporting, cancellation, device, output folder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node_api.events import Event, NodeStatus, OutputWritten, RunMessage, StepProgress


class Cancelled(Exception):
    """Raised inside a node when the user cancelled the run."""


class CancelToken:
    """Thread-safe cancel flag, checked between nodes and at every denoising step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def reset(self) -> None:
        self._event.clear()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass
class RunOptions:
    """Settings of one run shared by all nodes."""

    device: str = "cpu"
    output_dir: Path = field(default_factory=lambda: Path("output"))
    previews: bool = True
    preview_vae_every: int = 0  # full VAE-decoded preview every N steps; 0 = never
    workflow: dict[str, Any] | None = None  # the workflow document, embedded in PNGs
    # weights: auto/fp32/fp16/bf16 for the UNet and text encoders, and for the VAE
    # (pipelines.memory.precision); vram_mode: auto/normal/low (pipelines.memory.placement)
    precision: str = "auto"
    vae_precision: str = "auto"
    vram_mode: str = "auto"
    # denoiser acceleration: off/compile/max (pipelines.speed.accelerate); None: the
    # workflow's own default (its metadata "accelerate"), else off
    accelerate: str | None = None
    threads: int = 0  # torch intra-op threads; 0 leaves torch's choice


@dataclass
class NodeContext:
    """Handed to every node function as its first argument."""

    node_id: str
    title: str
    run_id: int
    options: RunOptions
    cancel: CancelToken
    emit: Callable[[Event], None]
    files: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        return self.options.device

    @property
    def wants_previews(self) -> bool:
        return self.options.previews

    def check_cancelled(self) -> None:
        self.cancel.raise_if_cancelled()

    def progress(self, step: int, total: int, preview: Any = None) -> None:
        """Report step ``step`` of ``total``; raises Cancelled when the run was cancelled."""
        self.emit(StepProgress(self.run_id, self.node_id, step, total, preview))
        self.cancel.raise_if_cancelled()

    def wrote_file(self, path: str | Path) -> None:
        self.files.append(str(path))
        self.emit(OutputWritten(self.run_id, self.node_id, "file", path=str(path)))

    def show_image(self, image: Any) -> None:
        self.emit(OutputWritten(self.run_id, self.node_id, "image", image=image))

    def message(self, text: str, level: str = "warning") -> None:
        """Tell the user ``text`` (GUI Messages, CLI stderr), once per run."""
        self.emit(RunMessage(self.run_id, self.node_id, level, text))

    def status(self, text: str) -> None:
        """What the node is busy with now (the GUI's status line)."""
        self.emit(NodeStatus(self.run_id, self.node_id, text))
