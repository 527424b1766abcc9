"""Engine overhead, measured side by side in one run on the same tiny model and settings.

(a) a graph run vs a direct diffusers StableDiffusionPipeline call (same prompt, seed,
    sampler, steps and cfg; the model is loaded once on both sides),
(b) sampling with step previews on vs off,
(c) a rerun with only the seed changed vs a cold run (no cached results, model read from disk).

Run: .venv/bin/python benchmarks/engine_overhead.py [--steps 20] [--reps 7] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["HF_HUB_OFFLINE"] = "1"

PROMPTS = ["a red circle", "a blue square on green", "a small yellow triangle", "white"]


def build_graph(registry, checkpoint: Path, steps: int, size: int):
    from app.interop.recipes import txt2img

    return txt2img(registry, checkpoint=str(checkpoint), prompt="x", width=size, height=size,
                   sampler={"steps": steps, "cfg": 7.5, "sampler": "euler"},
                   output="image.preview")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", type=Path, default=None,
                        help="diffusers folder (default: a tiny random SD1.x model)")
    args = parser.parse_args()

    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from app.engine.executor import Executor
    from app.engine.registry import default_registry
    from node_api.context import RunOptions
    from pipelines.testing.tiny import build_tiny_sd

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    checkpoint = args.model or build_tiny_sd(tmp / "tiny")
    registry = default_registry()
    graph = build_graph(registry, checkpoint, args.steps, args.size)
    executor = Executor(registry)

    pipe = StableDiffusionPipeline.from_pretrained(
        checkpoint, local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)

    def direct(prompt: str, seed: int) -> float:
        pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        t0 = time.perf_counter()
        pipe(prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=7.5,
             height=args.size, width=args.size,
             generator=torch.Generator("cpu").manual_seed(seed), output_type="pil")
        return time.perf_counter() - t0

    def ours(prompt: str, seed: int, previews: bool):
        graph.nodes["2"].values["text"] = prompt
        graph.nodes["5"].values["seed"] = seed
        t0 = time.perf_counter()
        result = executor.run(graph, options=RunOptions(previews=previews, output_dir=tmp))
        assert result.status == "ok", result.error
        return time.perf_counter() - t0, result

    from pipelines.memory.cache import default_cache

    ours("warm-up prompt", 0, previews=False)
    direct("warm-up", 0)
    # (c) a cold run (no cached results, model read from disk) vs a rerun with only the seed
    cold_times, rerun_times = [], []
    for rep in range(args.reps):
        executor = Executor(registry)
        default_cache().clear()
        cold_times.append(ours("warm-up prompt", rep, previews=False)[0])
        rerun, second = ours("warm-up prompt", 500 + rep, previews=False)
        rerun_times.append(rerun)

    d_times, g_times, on_times, off_times = [], [], [], []
    for rep in range(args.reps):
        prompt = PROMPTS[rep % len(PROMPTS)] + f" {rep}"  # new prompt: both sides re-encode
        d_times.append(direct(prompt, rep))
        g_times.append(ours(prompt, rep, previews=False)[0])
        off_times.append(ours(prompt, 1000 + rep, previews=False)[0])
        on_times.append(ours(prompt, 2000 + rep, previews=True)[0])

    med = statistics.median
    titles = {n.id: n.title for n in graph.nodes.values()}
    print(f"model: {checkpoint}  size {args.size}px  steps {args.steps}  euler  cfg 7.5  "
          f"reps {args.reps}  torch threads {torch.get_num_threads()}")
    print(f"{'measure':<44} {'ours s':>9} {'other s':>9} {'ratio':>7}  target")
    print(f"{'(a) graph run / direct pipeline call':<44} {med(g_times):>9.4f} "
          f"{med(d_times):>9.4f} {med(g_times) / med(d_times):>7.3f}  <= 1.03")
    print(f"{'(b) previews on / previews off':<44} {med(on_times):>9.4f} "
          f"{med(off_times):>9.4f} {med(on_times) / med(off_times):>7.3f}  <= 1.05")
    print(f"{'(c) seed-only rerun / cold run':<44} {med(rerun_times):>9.4f} "
          f"{med(cold_times):>9.4f} {med(rerun_times) / med(cold_times):>7.3f}  "
          "no loader, no encoder")
    ran = ", ".join(titles[i] for i in second.executed)
    reused = ", ".join(titles[i] for i in second.cached)
    print(f"    second run executed: {ran}")
    print(f"    second run cached:   {reused}")
    assert "1" not in second.executed and "2" not in second.executed


if __name__ == "__main__":
    main()
