"""A local HTTP + WebSocket server that speaks ComfyUI's API over our engine.

Clients written for ComfyUI (``script_examples/websockets_api_example.py``, chat front ends,
painting tools) queue API-format prompts with ``POST /prompt``, follow progress on ``/ws`` and
fetch images with ``/view``. Qt-free; ``python main.py serve`` starts it (``app.cli.serve``).

Modules: ``config`` (folders, limits, address), ``security`` (middlewares: token, origin,
errors as JSON), ``paths`` (confined file names), ``prompt`` (API prompt -> our graph, errors
in ComfyUI's shape), ``prompt_queue`` (the queue), ``history`` (kept on disk), ``messages``
(WebSocket clients and frames), ``worker`` (runs prompts on one executor), ``routes``,
``file_routes``, ``info_routes`` and ``app`` (assembly, start and stop).
"""
