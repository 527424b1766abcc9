"""Server overhead: the built-in model's default workflow run through ``main.py serve``'s
API (POST /prompt, WebSocket until ``executing`` null, GET /view) vs the same graph run
directly with ``Executor.run``, both warm (model loaded, loaders and prompts cached), runs
alternated so both sides see the same load: a new seed each run, and the same prompt again
(only Save Image runs: what is left is the server's own cost). Also the first prompt on a fresh server (cold executor cache) vs a changed
seed, and the time POST /prompt takes to validate and queue a prompt.

Run: .venv/bin/python benchmarks/server_overhead.py [--runs 5] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    from app.engine.executor import Executor
    from app.engine.registry import default_registry
    from app.interop.comfy import load_comfy
    from app.server.app import ServerThread
    from node_api.context import RunOptions
    from pipelines.loading.file_policy import INPUT_ENV
    from tests.server.comfy_client import ComfyClient
    from tests.server.conftest import default_prompt, server_config

    tmp = Path(tempfile.mkdtemp(prefix="server-bench-"))
    os.environ[INPUT_ENV] = str(tmp / "input")
    server = ServerThread(server_config(tmp)).start()
    client = ComfyClient(f"127.0.0.1:{server.port}")
    client.connect()

    def via_server(seed: int) -> float:
        t0 = time.perf_counter()
        images, _ = client.get_images(default_prompt(steps=args.steps, seed=seed))
        assert images["9"][0].startswith(b"\x89PNG")
        return time.perf_counter() - t0

    registry = default_registry()
    executor = Executor(registry)
    options = RunOptions(device="cpu", output_dir=tmp / "direct", previews=True)

    def direct(seed: int) -> float:
        graph = load_comfy(default_prompt(steps=args.steps, seed=seed), "bench", registry)
        t0 = time.perf_counter()
        executor.run(graph, options=options)
        return time.perf_counter() - t0

    cold = via_server(1)
    changed = via_server(2)
    direct(1)
    # alternated, so both sides see the same load on a shared machine
    served, straight, same_served, same_straight = [], [], [], []
    for i in range(args.runs):
        served.append(via_server(10 + i))
        straight.append(direct(10 + i))
        same_served.append(via_server(10 + i))  # everything cached but Save Image
        same_straight.append(direct(10 + i))

    def post_only() -> float:
        bad = default_prompt(steps=0)
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/prompt",
                                     data=json.dumps({"prompt": bad}).encode())
        t0 = time.perf_counter()
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError:
            pass
        return time.perf_counter() - t0

    validate = [post_only() for _ in range(args.runs)]
    server.stop()

    med = statistics.median
    print(f"steps {args.steps}, {args.runs} runs each, medians in seconds")
    print("| measurement | seconds |")
    print("|---|---|")
    print(f"| first prompt, fresh server (model load, nothing cached) | {cold:.3f} |")
    print(f"| second prompt, changed seed (loaders + prompts cached) | {changed:.3f} |")
    print(f"| new seed through the server (POST, ws to the end, /history, /view) | {med(served):.3f} |")
    print(f"| new seed, Executor.run directly | {med(straight):.3f} |")
    print(f"| same prompt again through the server (only Save Image runs) | {med(same_served):.3f} |")
    print(f"| same graph again, Executor.run directly | {med(same_straight):.3f} |")
    print(f"| server overhead per prompt (same prompt again) | "
          f"{med(same_served) - med(same_straight):+.3f} |")
    print(f"| POST /prompt refused by validation (round trip) | {med(validate):.4f} |")


if __name__ == "__main__":
    main()
