"""Our run events turned into ComfyUI's WebSocket messages and its history entry.

ComfyUI sends ``execution_cached`` once with every cached node before the first one runs;
our executor tells about cached nodes one at a time in run order, so they are gathered and
sent before the next node starts (usually one message listing the loaders and encoders).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from app.server.config import ServerConfig
from app.server.messages import Clients, preview_frame
from app.server.prompt_queue import QueueItem
from node_api.events import (
    Event,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeStarted,
    OutputWritten,
    RunCancelled,
    RunFinished,
    RunMessage,
    StepProgress,
)

# our own WebSocket message (ComfyUI clients skip types they do not know): a node's note to
# the user, e.g. acceleration falling back; also kept in the history's status messages
STUDIO_MESSAGE = "studio.message"


def now_ms() -> int:
    return int(time.time() * 1000)


class PromptProgress:
    """The listener of one prompt's run; ``finish`` sends the closing messages."""

    def __init__(self, item: QueueItem, display: dict[str, str], clients: Clients,
                 config: ServerConfig) -> None:
        self.item = item
        self.display = display
        self.clients = clients
        self.config = config
        self.sid = item.client_id
        self.messages: list[list[Any]] = []  # kept in the history's status
        self.outputs: dict[str, dict[str, list[dict[str, str]]]] = {}
        self._pending_images: dict[str, list[dict[str, str]]] = {}
        self._cached: list[str] = []
        self._cached_sent = False
        self.node: str | None = None  # the prompt node running now (for a reconnecting client)
        self.executed: list[str] = []
        self.failed: NodeFailed | None = None
        self.cancelled_at: str | None = None
        self.status = "failed"
        self.error_text: str | None = None

    # -- sending -------------------------------------------------------------------
    def _send(self, event: str, data: dict[str, Any], keep: bool = False) -> None:
        data = {**data, "prompt_id": self.item.prompt_id}
        if keep:
            self.messages.append([event, data])
        self.clients.post(event, data, self.sid)

    def start(self) -> None:
        self._send("execution_start", {"timestamp": now_ms()}, keep=True)

    def _flush_cached(self) -> None:
        """ComfyUI sends one ``execution_cached`` (maybe empty) before the first node runs;
        a cached node found later in the run order gets one more."""
        if self._cached or not self._cached_sent:
            self._send("execution_cached", {"nodes": self._cached, "timestamp": now_ms()},
                       keep=True)
            self._cached, self._cached_sent = [], True

    # -- events --------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeCached):
            if self.display.get(event.node_id) == event.node_id:
                self._cached.append(event.node_id)
        elif isinstance(event, NodeStarted):
            self._flush_cached()
            # a node the import added (a KSampler's Noise) is not announced: the client
            # knows only its prompt's nodes, and the sampler it feeds comes next
            if self.display.get(event.node_id) == event.node_id:
                self.node = event.node_id
                self._send("executing", {"node": event.node_id, "display_node": event.node_id})
        elif isinstance(event, StepProgress):
            self._progress(event)
        elif isinstance(event, OutputWritten):
            self._output(event)
        elif isinstance(event, NodeFinished):
            self._finished(event.node_id)
        elif isinstance(event, NodeFailed):
            self.failed = event
        elif isinstance(event, RunMessage):
            node = self.display.get(event.node_id, event.node_id) if event.node_id else None
            self._send(STUDIO_MESSAGE, {"node": node, "level": event.level,
                                        "text": event.text, "timestamp": now_ms()}, keep=True)
        elif isinstance(event, RunCancelled):
            self.cancelled_at = event.node_id
        elif isinstance(event, RunFinished):
            self.status = event.status
            self.error_text = event.error

    def _progress(self, event: StepProgress) -> None:
        shown = self.display.get(event.node_id, event.node_id)
        self._send("progress", {"value": event.step, "max": event.total, "node": shown})
        if event.preview is not None and (frame := preview_frame(event.preview)) is not None:
            self.clients.post("preview", frame, self.sid)

    def _output(self, event: OutputWritten) -> None:
        shown = self.display.get(event.node_id, event.node_id)
        image = None
        if event.kind == "file" and event.path:
            image = self._file_entry(Path(event.path))
        elif event.kind == "image" and event.image is not None:
            image = self._temp_entry(event.image)
        if image is not None:
            self._pending_images.setdefault(shown, []).append(image)

    def _file_entry(self, path: Path) -> dict[str, str] | None:
        try:
            rel = path.resolve().relative_to(self.config.output_dir.resolve())
        except ValueError:
            return None
        sub = rel.parent.as_posix()
        return {"filename": rel.name, "subfolder": "" if sub == "." else sub, "type": "output"}

    def _temp_entry(self, picture: Any) -> dict[str, str] | None:
        """A Preview Image picture, saved in the temp folder as ComfyUI does."""
        from node_api.files import write_new

        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="PNG", compress_level=1)
        except (AttributeError, OSError, ValueError):
            return None
        stem = f"studio_temp_{self.item.prompt_id[:8]}"
        names = (f"{stem}_{n:05d}_.png" for n in range(1, 1 << 20))
        path = write_new(self.config.temp_dir, names, buffer.getvalue())
        return {"filename": path.name, "subfolder": "", "type": "temp"}

    def _finished(self, node_id: str) -> None:
        shown = self.display.get(node_id)
        if shown is not None and shown not in self.executed:
            self.executed.append(shown)
        images = self._pending_images.pop(shown or node_id, None)
        if shown is not None and images:
            self.outputs.setdefault(shown, {"images": []})["images"].extend(images)
            self._send("executed", {"node": shown, "display_node": shown,
                                    "output": {"images": images}})

    # -- the end -------------------------------------------------------------------
    def finish(self) -> None:
        """The closing message of the run: success, error or interrupted."""
        if self._cached:
            self._flush_cached()
        common = {"executed": list(self.executed), "timestamp": now_ms()}
        if self.status == "ok":
            self._send("execution_success", {"timestamp": now_ms()}, keep=True)
        elif self.status == "cancelled":
            node = self.display.get(self.cancelled_at or "", self.cancelled_at)
            self._send("execution_interrupted",
                       {"node_id": node, "node_type": self._class(node), **common}, keep=True)
        else:
            failed = self.failed
            node = self.display.get(failed.node_id, failed.node_id) if failed else None
            error = failed.error if failed else None
            self._send("execution_error", {
                "node_id": node, "node_type": self._class(node), **common,
                "exception_message": self.error_text or (failed.message if failed else ""),
                "exception_type": type(error).__name__ if error else "Error",
                "traceback": [], "current_inputs": {}, "current_outputs": {}}, keep=True)

    def fail(self, message: str) -> None:
        """The run could not start (the prompt no longer validates)."""
        self.status, self.error_text = "failed", message

    def _class(self, node: str | None) -> str | None:
        item = self.item.prompt.get(node or "")
        return item.get("class_type") if isinstance(item, dict) else None

    def history_entry(self) -> dict[str, Any]:
        status = {"ok": "success"}.get(self.status, "error")
        return {"prompt": self.item.as_list(), "outputs": self.outputs,
                "status": {"status_str": status, "completed": self.status == "ok",
                           "messages": self.messages},
                "meta": {n: {"node_id": n, "display_node": n, "parent_node": None,
                             "real_node_id": n} for n in self.outputs}}
