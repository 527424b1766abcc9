"""``serve --cluster``: prompts run on a Ray actor instead of this process.

The actor is the batch runner's ``BatchWorker`` (``app.batch.ray_runner``): one Executor
whose cache spans the prompts it gets, so a changed seed reruns only the sampler there too.
Its files come back as bytes and are written into the output folder here. Step events stay
on the worker: clients hear ``execution_start``, ``executed`` and the end, with no
``progress``, previews or ``execution_cached``. An interrupt cancels the job and replaces
the actor (a cancelled BatchWorker refuses later jobs).
"""

from __future__ import annotations

from typing import Any

from app.batch.ray_runner import BatchWorker, connect, disconnect
from app.batch.runner import Job
from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.workflow import to_document
from app.server.config import ServerConfig
from node_api.context import CancelToken, RunOptions
from node_api.events import Listener, NodeFinished, OutputWritten, RunFinished

POLL_S = 0.2


class ClusterRunner:
    def __init__(self, address: str, config: ServerConfig, registry: Registry) -> None:
        """Raises BatchError: Ray is missing or nobody answers at ``address``."""
        self.config = config
        self.registry = registry
        self.owns = connect(address, quiet=True)
        self._actor: Any = None

    def close(self) -> None:
        self._drop()
        if self.owns:
            disconnect()

    def _drop(self) -> None:
        if self._actor is not None:
            import ray

            ray.kill(self._actor)
            self._actor = None

    def _worker(self) -> Any:
        if self._actor is None:
            import ray

            options = RunOptions(device=self.config.device, previews=False)
            remote = ray.remote(max_concurrency=2, num_cpus=1)(BatchWorker)
            self._actor = remote.remote(options)
        return self._actor

    def run(self, graph: Graph, prompt_id: str, listener: Listener,
            cancel: CancelToken) -> None:
        """Run ``graph`` on the actor; ``listener`` hears the files and the end."""
        import ray
        from ray.exceptions import RayError

        from node_api.files import write_new

        tag = f"p{prompt_id[:8]}"
        actor = self._worker()
        ref = actor.run.remote(to_document(graph), Job(0, {}, prompt_id), tag)
        cancelled = False
        while not ray.wait([ref], timeout=POLL_S)[0]:
            if cancel.cancelled and not cancelled:
                actor.cancel.remote()
                cancelled = True
        try:
            reply = ray.get(ref)
        except RayError as exc:
            self._drop()
            listener(RunFinished(0, "failed", error=f"the Ray worker failed: {exc}"))
            return
        if cancelled:
            self._drop()
        record = reply["record"]
        writers = self._writers(graph, tag)
        for name, data in reply["files"].items():
            stem, dot, ext = name.rpartition(".")
            names = [name, *(f"{stem}-{n}{dot}{ext}" for n in range(1, 10000))]
            path = write_new(self.config.output_dir, names, data)
            node = next((n for p, n in writers if name.startswith(p)), writers[0][1]
                        if writers else "")
            listener(OutputWritten(0, node, "file", path=str(path)))
        for _, node in writers:
            listener(NodeFinished(0, node, "", 0.0))
        listener(RunFinished(0, record["status"], error=record["error"]))

    def _writers(self, graph: Graph, tag: str) -> list[tuple[str, str]]:
        """(file name start, node id) of each node that writes files."""
        found = []
        for node in graph.nodes.values():
            spec = self.registry.get(node.type)
            if spec is not None and spec.is_output and spec.input("filename_prefix"):
                prefix = str(node.values.get("filename_prefix", ""))
                safe = "".join(c for c in f"{tag}_{prefix}" if c.isalnum() or c in "-_ ").strip()
                found.append((safe, node.id))
        return sorted(found, key=lambda p: -len(p[0]))  # the longest start wins
