"""``main.py serve``: the local server that speaks ComfyUI's API (``app.server``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.cli.common import EXIT_INVALID, EXIT_OK, error

TOKEN_ENV = "STUDIO_SERVER_TOKEN"


def add_parser(sub: Any) -> None:
    """Declare ``serve`` on the subparsers ``sub``."""
    serve = sub.add_parser(
        "serve", help="serve ComfyUI's HTTP + WebSocket API, so ComfyUI clients drive the studio")
    serve.add_argument("--host", default=None,
                       help="address to bind (default 127.0.0.1; others need --listen)")
    serve.add_argument("--port", type=int, default=8188, help="port (default 8188, ComfyUI's)")
    serve.add_argument("--listen", nargs="?", const="0.0.0.0", default=None, metavar="HOST",
                       help="accept connections from other machines (default 0.0.0.0): "
                       "anyone who reaches the port can queue prompts; use --token")
    serve.add_argument("--token", default=None,
                       help=f"require this access token (Authorization: Bearer or ?token=); "
                       f"default ${TOKEN_ENV}")
    serve.add_argument("--input-dir", type=Path, default=None,
                       help="uploads and Load Image names (default $STUDIO_INPUT or the user "
                       "data folder's input/)")
    serve.add_argument("--out", type=Path, default=Path("output"), help="output folder")
    serve.add_argument("--data-dir", type=Path, default=None,
                       help="history and temporary previews (default <user data>/server)")
    serve.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    serve.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="run prompts on a Ray cluster (local, auto or ray://HOST:PORT; "
                       "pip install '.[cluster]'): no step progress or previews then")
    serve.add_argument("--max-upload-mb", type=float, default=100.0,
                       help="largest request body, uploads included (default 100)")


def command(args: argparse.Namespace) -> int:
    from app.server.config import MB, ServerConfig, is_loopback
    from pipelines.loading.file_policy import INPUT_ENV

    host = args.host or args.listen or "127.0.0.1"
    if not is_loopback(host) and args.listen is None:
        error(f"--host {host} would let other machines reach the server; add --listen "
              f"to mean it")
        return EXIT_INVALID
    if not 0 < args.port < 65536:
        error(f"--port {args.port}: not a port number")
        return EXIT_INVALID
    token = args.token or os.environ.get(TOKEN_ENV) or None
    config = ServerConfig(host=host, port=args.port, token=token, output_dir=args.out,
                          device=args.device, max_body_bytes=int(args.max_upload_mb * MB),
                          cluster=args.cluster)
    if args.input_dir is not None:
        config.input_dir = args.input_dir.expanduser().resolve()
        os.environ[INPUT_ENV] = str(config.input_dir)  # Load Image looks names up there
    if args.data_dir is not None:
        config.data_dir = args.data_dir.expanduser()
    if not is_loopback(host):
        print(f"WARNING: listening on {host}: every machine that reaches port {args.port} "
              f"can queue prompts and read outputs"
              + ("" if token else "; no --token is set"), file=sys.stderr)
    print(f"input {config.input_dir} · output {config.output_dir.resolve()} · "
          f"history {config.history_file}" + (" · token required" if token else ""))
    from app.batch.runner import BatchError
    from app.server.app import serve

    try:
        serve(config)
    except BatchError as exc:  # --cluster: no Ray, or nobody at the address
        error(str(exc))
        return EXIT_INVALID
    except OSError as exc:  # the port is taken, the address is not ours
        error(f"cannot listen on {host}:{args.port}: {exc.strerror or exc}")
        return EXIT_INVALID
    return EXIT_OK
