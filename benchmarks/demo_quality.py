"""How well does the demo model follow prompts? Seen vs held-out combos, at cfg 1 and default.

Usage: python benchmarks/demo_quality.py [--model DIR] [--seen N] [--held-out N] [--out DIR]
Prints a table of colour / background / shape accuracy (pixel classifier) and writes sample
grids to --out (default benchmarks/out/).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo.components import DEFAULT_CFG, DEFAULT_STEPS  # noqa: E402
from pipelines.demo.evaluate import evaluate_model, format_table  # noqa: E402
from pipelines.demo.figures import save_captioned_grid  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "demo"))
    parser.add_argument("--seen", type=int, default=120, help="prompt/seed pairs, seen combos")
    parser.add_argument("--held-out", type=int, default=60, help="pairs from held-out combos")
    parser.add_argument("--cfg", type=float, default=DEFAULT_CFG)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    started = time.time()
    cfgs = (1.0, args.cfg)
    results, images, prompts = evaluate_model(args.model, args.seen, args.held_out, cfgs,
                                              args.steps)
    elapsed = time.time() - started
    n_images = len(prompts) * len(cfgs)
    print(f"model {args.model}: {len(prompts)} prompt/seed pairs x {len(cfgs)} cfgs, "
          f"{args.steps} Euler steps, {elapsed:.0f}s ({elapsed / n_images:.2f}s per image)")
    print(format_table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for cfg in cfgs:
        path = save_captioned_grid(images[cfg][:24] + images[cfg][-8:],
                                   prompts[:24] + prompts[-8:],
                                   out / f"demo_samples_cfg{cfg:g}.png", columns=8)
        print(f"samples at cfg {cfg:g}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
