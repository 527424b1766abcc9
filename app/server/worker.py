"""The worker thread: runs queued prompts one after another on ONE executor.

The executor's result cache is shared by every prompt, so a prompt that differs from the
previous one only in its seed reruns the noise, the sampler and what follows; the loaders
and text encoders are reported in ``execution_cached``. ``interrupt`` cancels the running
prompt through its cancel token (checked between nodes and at every denoising step).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from app.engine.executor import Executor
from app.engine.registry import Registry
from app.engine.validation import ValidationError
from app.engine.workflow import to_document
from app.server.config import ServerConfig
from app.server.history import History
from app.server.messages import Clients
from app.server.progress import PromptProgress
from app.server.prompt import PromptRefused, display_ids, prepare
from app.server.prompt_queue import PromptQueue, QueueItem
from node_api.context import CancelToken, RunOptions

if TYPE_CHECKING:
    from app.server.cluster import ClusterRunner

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, config: ServerConfig, registry: Registry, queue: PromptQueue,
                 history: History, clients: Clients) -> None:
        self.config = config
        self.registry = registry
        self.queue = queue
        self.history = history
        self.clients = clients
        self.executor = Executor(registry)
        self._lock = threading.Lock()
        self._running: tuple[str, CancelToken] | None = None
        self._device: str | None = None
        self._free = 0  # 1: forget cached results, 2: unload the models too
        self._progress: PromptProgress | None = None  # of the running prompt
        self.cluster: ClusterRunner | None = None  # set by serve --cluster
        self._thread = threading.Thread(target=self._loop, name="prompt-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.queue.close()
        self.interrupt()
        self._thread.join(timeout)
        if self.cluster is not None:
            self.cluster.close()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Cancel the running prompt (only if it is ``prompt_id``, when given)."""
        with self._lock:
            if self._running is None:
                return False
            running_id, token = self._running
            if prompt_id is not None and prompt_id != running_id:
                return False
            token.cancel()
            return True

    def executing(self, sid: str) -> dict[str, str] | None:
        """The ``executing`` message for client ``sid`` when its prompt is running now."""
        progress = self._progress
        if progress is None or progress.sid != sid or progress.node is None:
            return None
        return {"node": progress.node, "display_node": progress.node,
                "prompt_id": progress.item.prompt_id}

    def free(self, unload_models: bool) -> None:
        """ComfyUI's ``/free``: forget cached results (and unload the models) between prompts."""
        with self._lock:
            self._free = max(self._free, 2 if unload_models else 1)

    def _free_now(self) -> None:
        with self._lock:
            level, self._free = self._free, 0
        if level:
            self.executor.clear_cache()
        if level > 1:
            from pipelines.memory.cache import default_cache

            default_cache().clear()

    def _loop(self) -> None:
        while not self.queue.closed:
            self._free_now()
            item = self.queue.get(timeout=0.5)
            if item is None:
                continue
            self._free_now()  # a /free that came just before this prompt
            token = CancelToken()
            with self._lock:
                self._running = (item.prompt_id, token)
            try:
                progress = self._run(item, token)
                self.history.add(item.prompt_id, progress.history_entry())
            except Exception:  # the worker must survive anything a prompt does
                log.exception("prompt %s failed in the server", item.prompt_id)
            finally:
                with self._lock:
                    self._running = None
                self._progress = None
                self.queue.done(item)
            # last, as ComfyUI does: the history is written when a client sees the end
            self.clients.post("executing", {"node": None, "display_node": None,
                                            "prompt_id": item.prompt_id}, item.client_id)

    def _run(self, item: QueueItem, token: CancelToken) -> PromptProgress:
        progress = PromptProgress(item, {}, self.clients, self.config)
        self._progress = progress
        progress.start()
        try:
            prepared = prepare(item.prompt, self.registry, self.config)
        except PromptRefused as exc:  # an input file went away since it was queued
            error = exc.body["error"]
            progress.fail(f"{error['message']}: {error['details']}".rstrip(": "))
            progress.finish()
            return progress
        progress.display = display_ids(prepared.graph, item.prompt)
        try:
            if self._device is None:
                from app.engine.devices import resolve_device

                # on a cluster, each worker resolves "auto" for its own machine
                self._device = (self.config.device if self.cluster is not None
                                else resolve_device(self.config.device))
            options = RunOptions(device=self._device, output_dir=self.config.output_dir,
                                 previews=self.config.previews,
                                 workflow=to_document(prepared.graph))
            if self.cluster is not None:
                self.cluster.run(prepared.graph, item.prompt_id, progress, token)
            else:
                self.executor.run(prepared.graph, targets=prepared.outputs, options=options,
                                  listeners=[progress], cancel=token)
        except ValidationError as exc:
            progress.fail(str(exc))
        except Exception as exc:  # DeviceError and the like: one line for the client
            log.exception("prompt %s could not run", item.prompt_id)
            progress.fail(str(exc) or type(exc).__name__)
        progress.finish()
        return progress
