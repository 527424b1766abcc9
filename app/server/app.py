"""The server assembled: the aiohttp application, and starting it in the foreground
(``main.py serve``) or on a background thread (tests, a window that hosts it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from aiohttp import web

from app.engine.registry import Registry, default_registry
from app.server import file_routes, info_routes, routes
from app.server.config import ServerConfig
from app.server.history import History
from app.server.messages import Clients
from app.server.prompt_queue import PromptQueue
from app.server.security import json_errors, origin_middleware, token_middleware
from app.server.state import STATE, ServerState
from app.server.worker import Worker


def build_state(config: ServerConfig, registry: Registry | None = None) -> ServerState:
    registry = registry if registry is not None else default_registry()
    clients = Clients()
    history = History(config.history_file, config.max_history)
    state_box: list[ServerState] = []

    def on_change() -> None:  # every queue change: everyone hears the new count
        if state_box:
            clients.post("status", {"status": state_box[0].queue_info()})

    queue = PromptQueue(on_change)
    worker = Worker(config, registry, queue, history, clients)
    if config.cluster:
        from app.server.cluster import ClusterRunner

        worker.cluster = ClusterRunner(config.cluster, config, registry)  # BatchError: no Ray
    state = ServerState(config, registry, queue, history, clients, worker)
    state_box.append(state)
    return state


def create_app(config: ServerConfig, registry: Registry | None = None) -> web.Application:
    """The application; the worker thread starts and stops with it."""
    middlewares = [json_errors, origin_middleware(config)]
    if config.token:
        middlewares.append(token_middleware(config.token))
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=middlewares)
    state = build_state(config, registry)
    app[STATE] = state

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        for folder in (config.input_dir, config.output_dir, config.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        await state.clients.start()
        state.worker.start()
        yield
        await asyncio.to_thread(state.worker.stop)
        await state.clients.stop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(state.clients.close_sockets)
    for table in (routes.routes, file_routes.routes, info_routes.routes):
        app.add_routes(table)
        # ComfyUI's newer front end calls the same endpoints under /api
        app.add_routes([web.route(r.method, "/api" + r.path, r.handler)
                        for r in table if isinstance(r, web.RouteDef)])
    return app


class ServerThread:
    """The server on its own event loop in a background thread; ``port`` once started."""

    def __init__(self, config: ServerConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.app = create_app(config, registry)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app, access_log=None)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="studio-server", daemon=True)

    @property
    def state(self) -> ServerState:
        return self.app[STATE]

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.config.host, self.config.port)
            self._loop.run_until_complete(site.start())
            sockets = self._runner.addresses
            self.port = sockets[0][1] if sockets else self.config.port
        except BaseException as exc:  # reported to the caller of start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        """Stop serving, let the running prompt be cancelled, wait for the thread (idempotent)."""
        if self._stopping:
            self._thread.join(60)
            return
        self._stopping = True
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)


def serve(config: ServerConfig, registry: Registry | None = None) -> None:
    """Run in the foreground until Ctrl+C."""
    def announce(text: str) -> None:
        text = text.replace("======== Running on", "Diffusion Studio serves ComfyUI's API on")
        print(text.replace(" ========", ""), flush=True)

    web.run_app(create_app(config, registry), host=config.host, port=config.port,
                access_log=None, print=announce)
