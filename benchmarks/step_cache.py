"""Step Cache: its speed and its cost in quality, side by side in one run on the built-in model.

For each threshold (0 = off) the same prompts and seeds are sampled; printed per threshold:
denoiser calls run and skipped, sampling time (median over interleaved repeats) and the speed
ratio to off, the pixel difference to off (mean and max over 0-255), and the built-in pixel
judge's accuracy (``pipelines.demo.evaluate.classify``: colour, background and shape read from
the image) against what each prompt asked for.

Run: .venv/bin/python benchmarks/step_cache.py [--prompts 24] [--steps 20] [--reps 3]
     [--thresholds 0.1,0.2,0.4] [--model resources/models/demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--thresholds", default="0.1,0.2,0.4")
    parser.add_argument("--model", type=Path, default=ROOT / "resources/models/demo")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from pipelines.demo import evaluate
    from pipelines.demo.components import DEFAULT_CFG
    from pipelines.image import to_pil
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.step_cache import with_step_cache
    from pipelines.sampling.vae import decode
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    torch.set_num_threads(1)  # steadier on a shared machine; the ratio is what counts
    model, clip, vae = load_checkpoint(args.model)
    items = evaluate.evaluation_prompts(args.prompts * 2 // 3, args.prompts - args.prompts * 2 // 3)
    negative = encode_text(clip, "")
    conds = [encode_text(clip, prompt) for prompt, _, _, _ in items]
    side = 64 // model.vae_scale_factor  # the built-in model draws 64x64 images
    latent = Latent(samples=torch.zeros(1, model.latent_channels, side, side))
    thresholds = [0.0, *(float(t) for t in args.thresholds.split(","))]
    variants = {t: with_step_cache(model, t, 0.15, 0.95) for t in thresholds}

    def sample_all(threshold: float) -> tuple[float, list[np.ndarray], int, int]:
        patched = variants[threshold]
        computed = skipped = 0
        seconds = 0.0
        pictures = []
        for (_, _, seed, _), positive in zip(items, conds, strict=True):
            t0 = time.perf_counter()
            out = denoise(patched, positive, negative, latent, Noise(seed), sampler="euler",
                          steps=args.steps, cfg=DEFAULT_CFG)
            seconds += time.perf_counter() - t0
            if patched.patches:
                done, skip = patched.patches[-1].last_run[0]
            else:
                done, skip = args.steps, 0
            computed, skipped = computed + done, skipped + skip
            image = to_pil(decode(vae, out))[0]
            pictures.append(np.asarray(image, dtype=np.float32))
        return seconds, pictures, computed, skipped

    times: dict[float, list[float]] = {t: [] for t in thresholds}
    results: dict[float, tuple[list[np.ndarray], int, int]] = {}
    sample_all(0.0)  # warm-up
    for _ in range(args.reps):
        for t in thresholds:  # interleaved, so a busy moment hits every variant alike
            seconds, pictures, computed, skipped = sample_all(t)
            times[t].append(seconds)
            results[t] = (pictures, computed, skipped)

    specs = [spec for _, spec, _, _ in items]
    off_time = statistics.median(times[0.0])
    off_pictures = results[0.0][0]
    print(f"model {args.model.name}, {len(items)} prompts, euler {args.steps} steps, "
          f"cfg {DEFAULT_CFG}, window 0.15-0.95, {args.reps} reps, 1 torch thread")
    print(f"{'threshold':>9} {'calls':>6} {'skipped':>8} {'time s':>8} {'speed':>6} {'calls off/on':>12} "
          f"{'diff mean':>9} {'diff max':>8} {'judge all':>9} {'colour':>7} {'shape':>6}")
    for t in thresholds:
        pictures, computed, skipped = results[t]
        diffs = [np.abs(p - o) for p, o in zip(pictures, off_pictures, strict=True)]
        judged = evaluate.score([evaluate.classify(p.astype(np.uint8)) for p in pictures], specs)
        seconds = statistics.median(times[t])
        print(f"{t if t else 'off':>9} {computed:>6} {skipped:>8} {seconds:>8.2f} "
              f"{off_time / seconds:>5.2f}x {results[0.0][1] / computed:>11.2f}x {np.mean([d.mean() for d in diffs]):>9.2f} "
              f"{max(d.max() for d in diffs):>8.0f} {judged['all']:>9.2f} "
              f"{judged['colour']:>7.2f} {judged['shape']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
