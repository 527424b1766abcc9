"""End-to-end speed on a GPU: our graph against a hand-written diffusers script, one run.

Builds full-size SD1.5 and SDXL diffusers folders with random weights from the configs shipped
in resources/configs (speed does not depend on the weights) and prints side by side, per model:
  - whole graph run (Load Checkpoint -> prompts -> Sampler -> VAE Decode) vs a direct
    StableDiffusion(XL)Pipeline call with the same prompt, seed, sampler, steps and cfg,
    in each acceleration mode (ours: the run option; diffusers: torch.compile of its UNet
    with the same mode, channels_last);
  - denoising it/s, ours (the Sampler node's time) vs diffusers (the pipeline on
    precomputed embeddings, output_type="latent"), per mode;
  - previews on / off (ours), peak VRAM of each side, and the first run (cold: the model read
    from disk, plus compiling in the compile modes).
Last, the first image of a cold `main.py run resources/workflows/default.json` (wall clock).
Both sides run in ``--dtype`` (ours: the run's precision; the VAE follows our "auto" rule,
float32 for the SDXL VAE in fp16 as diffusers upcasts it).

Run where a CUDA GPU is at hand (SDXL needs ~20 GB of disk and VRAM):
    .venv/bin/python benchmarks/gpu_e2e.py [--models sd15,sdxl] [--modes off,compile,max]
        [--steps 30] [--reps 3] [--dtype fp16]
``--smoke`` runs the same code with tiny models in fp32 on the CPU (the test suite runs it):
modes off and compile, with torch.compile as the identity (``pipelines.testing.no_inductor``:
our acceleration path and the script's compile branches run, inductor does not), and one
cold launch of the default workflow with 2 steps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

TEMPLATES = {"sd15": ("sd1", 512), "sdxl": ("sdxl", 1024)}
PROMPT, NEGATIVE = "a lighthouse on a cliff at dusk, oil painting", "blurry"


def build_folder(name: str, root: Path, device: Any, dtype: Any, smoke: bool) -> Path:
    """A diffusers folder of the family's real architecture with random weights (tiny when
    ``smoke``)."""
    from pipelines.testing.tiny import build_tiny_sd, build_tiny_sdxl

    if smoke:
        return (build_tiny_sd if name == "sd15" else build_tiny_sdxl)(root / name)
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from pipelines.loading.readers import CONFIGS, clip_tokenizer, read_json

    template = CONFIGS / TEMPLATES[name][0]
    index = read_json(template / "model_index.json")
    parts: dict[str, Any] = {}
    torch.manual_seed(0)
    with torch.device(device):  # random init of billions of weights is slow on the CPU
        for slot, (library, cls) in index.items():
            if slot.startswith("_") or not isinstance(library, str):
                continue
            config = template / slot
            if slot in ("unet", "vae"):
                parts[slot] = getattr(diffusers, cls).from_config(read_json(config / "config.json"))
            elif slot.startswith("text_encoder"):
                model = CLIPTextModelWithProjection if "Projection" in cls else CLIPTextModel
                parts[slot] = model(CLIPTextConfig.from_dict(read_json(config / "config.json")))
            elif slot.startswith("tokenizer"):
                parts[slot] = clip_tokenizer(read_json(config / "tokenizer_config.json")
                                             .get("pad_token", "<|endoftext|>"))
            elif slot == "scheduler":
                parts[slot] = getattr(diffusers, cls).from_config(
                    read_json(config / "scheduler_config.json"))
    pipeline = getattr(diffusers, index["_class_name"])
    extra = {"safety_checker": None, "feature_extractor": None,
             "requires_safety_checker": False} if name == "sd15" else {}
    pipe = pipeline(**parts, **extra).to(dtype)
    pipe.save_pretrained(root / name)
    del pipe, parts
    return root / name


class Side:
    """Timings of one side in one mode."""

    def __init__(self) -> None:
        self.runs: list[float] = []
        self.loops: list[float] = []
        self.first = 0.0
        self.vram = 0.0


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak(device: Any) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0


def ours(folder: Path, size: int, mode: str, args: argparse.Namespace, device: Any,
         previews_too: bool) -> tuple[Side, Side | None]:
    """Graph runs in ``mode``: (previews off, previews on or None)."""
    from app.engine.executor import Executor
    from app.engine.registry import default_registry
    from app.interop.recipes import txt2img
    from node_api.context import RunOptions
    from pipelines.memory.cache import default_cache

    registry = default_registry()
    graph = txt2img(registry, checkpoint=str(folder), prompt=PROMPT, negative=NEGATIVE,
                    width=size, height=size, output="image.preview",
                    sampler={"steps": args.steps, "cfg": 7.5, "sampler": "euler"})
    default_cache().clear()
    executor = Executor(registry)
    out_dir = Path(tempfile.mkdtemp(prefix="e2e-"))

    def run(seed: int, previews: bool) -> tuple[float, float]:
        graph.nodes["5"].values["seed"] = seed
        _sync(device)
        start = time.perf_counter()
        result = executor.run(graph, options=RunOptions(
            device=str(device), output_dir=out_dir, previews=previews, accelerate=mode,
            threads=0, precision=args.precision))
        _sync(device)
        assert result.status == "ok", result.error
        return time.perf_counter() - start, result.timings["6"]  # the Sampler node

    sides = [Side(), Side() if previews_too else None]
    _peak_reset(device)
    sides[0].first = run(0, False)[0]  # cold: reads the folder (and compiles)
    for rep in range(args.reps):  # interleaved, so drifting clocks hit both alike
        for side, previews in zip(sides, (False, True), strict=True):
            if side is not None:
                total, loop = run(1 + rep, previews)
                side.runs.append(total)
                side.loops.append(loop)
    sides[0].vram = _peak(device)
    default_cache().clear()
    return sides[0], sides[1]


def theirs(folder: Path, size: int, mode: str, args: argparse.Namespace, device: Any,
           dtype: Any) -> Side:
    """The same image with a hand-written diffusers script, UNet compiled in ``mode``."""
    import diffusers
    import torch

    side = Side()
    start = time.perf_counter()
    index = diffusers.DiffusionPipeline.load_config(str(folder))
    pipeline = getattr(diffusers, index["_class_name"])
    pipe = pipeline.from_pretrained(folder, dtype=dtype, local_files_only=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    if mode != "off":
        if device.type == "cuda":
            pipe.unet.to(memory_format=torch.channels_last)
        pipe.unet = torch.compile(pipe.unet, mode="max-autotune" if mode == "max" else None)
    call = {"num_inference_steps": args.steps, "guidance_scale": 7.5, "height": size,
            "width": size}

    def run(seed: int) -> float:
        _sync(device)
        begin = time.perf_counter()
        pipe(PROMPT, negative_prompt=NEGATIVE, output_type="pil",
             generator=torch.Generator("cpu").manual_seed(seed), **call)
        _sync(device)
        return time.perf_counter() - begin

    _peak_reset(device)
    run(0)
    side.first = time.perf_counter() - start
    embeds = None
    if "text_encoder_2" not in pipe.components:
        with torch.inference_mode():
            embeds = pipe.encode_prompt(PROMPT, device, 1, True, NEGATIVE)
    for rep in range(args.reps):
        side.runs.append(run(1 + rep))
        _sync(device)
        begin = time.perf_counter()
        if embeds is not None:  # SD1.5: the loop alone, on precomputed embeddings
            pipe(prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1],
                 output_type="latent", generator=torch.Generator("cpu").manual_seed(rep),
                 **call)
        else:  # SDXL: its pooled embeddings too; the encode is a few ms of the whole
            pipe(PROMPT, negative_prompt=NEGATIVE, output_type="latent",
                 generator=torch.Generator("cpu").manual_seed(rep), **call)
        _sync(device)
        side.loops.append(time.perf_counter() - begin)
    side.vram = _peak(device)
    return side


def cold_launch(device: Any, steps: int | None = None) -> float:
    """Wall seconds of a fresh `main.py run` of the default workflow (11 MB demo model),
    with its own steps unless ``steps``."""
    out = tempfile.mkdtemp(prefix="e2e-cold-")
    extra = ["--set", f"6.steps={steps}"] if steps else []
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "main.py"), "run",
                    str(ROOT / "resources" / "workflows" / "default.json"), "--quiet",
                    "--out", out, "--device", device.type, *extra], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="sd15,sdxl")
    parser.add_argument("--modes", default="off,compile,max")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dtype", default="fp16", choices=("fp16", "bf16"))
    parser.add_argument("--smoke", action="store_true", help="tiny models, fp32 on the CPU, "
                        "compile stubbed (checks the script runs)")
    args = parser.parse_args(argv)

    import torch

    modes, args.precision = args.modes.split(","), args.dtype
    if args.smoke:
        device, dtype, size = torch.device("cpu"), torch.float32, 64
        modes, args.steps, args.reps = ["off", "compile"], min(args.steps, 2), 1
        args.precision = "fp32"
    else:
        if not torch.cuda.is_available():
            raise SystemExit("No CUDA GPU here; run with --smoke to check the script on CPU.")
        device, dtype, size = torch.device("cuda"), getattr(
            torch, {"fp16": "float16", "bf16": "bfloat16"}[args.dtype]), 0
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    root = Path(tempfile.mkdtemp(prefix="e2e-models-"))
    # workflows may only read configured folders: allow the benchmark's own (and its children)
    allowed = [p for p in os.environ.get("STUDIO_ALLOW_PATHS", "").split(os.pathsep) if p]
    os.environ["STUDIO_ALLOW_PATHS"] = os.pathsep.join([*allowed, str(root)])
    print(f"euler, {args.steps} steps, cfg 7.5, {args.precision}, medians of {args.reps}; "
          "seconds unless said")
    print(f"{'model':5} {'mode':7} {'graph s':>8} {'direct s':>8} {'ratio':>6} "
          f"{'ours it/s':>9} {'diff it/s':>9} {'ratio':>6} {'prev on/off':>11} "
          f"{'VRAM ours/diff GiB':>18} {'first ours/diff s':>17}")
    from pipelines.testing.no_inductor import no_inductor

    with no_inductor() if args.smoke else contextlib.nullcontext():
        table(args, modes, root, device, dtype, size)
    steps = 2 if args.smoke else None
    print(f"cold `main.py run` of the default workflow: {cold_launch(device, steps):.2f} s wall")


def table(args: argparse.Namespace, modes: list[str], root: Path, device: Any, dtype: Any,
          size: int) -> None:
    """One row per model and mode, ours and diffusers side by side."""
    import torch

    med = statistics.median
    for name in args.models.split(","):
        if name not in TEMPLATES:
            raise SystemExit(f"unknown model {name!r}; use sd15 and/or sdxl")
        folder = build_folder(name, root, device, dtype, args.smoke)
        side_px = size or TEMPLATES[name][1]
        for mode in modes:
            mine, previews = ours(folder, side_px, mode, args, device, previews_too=mode == "off")
            other = theirs(folder, side_px, mode, args, device, dtype)
            preview_ratio = f"{med(previews.runs) / med(mine.runs):11.3f}" if previews else \
                f"{'':>11}"
            ours_rate, their_rate = args.steps / med(mine.loops), args.steps / med(other.loops)
            print(f"{name:5} {mode:7} {med(mine.runs):8.3f} {med(other.runs):8.3f} "
                  f"{med(mine.runs) / med(other.runs):6.3f} {ours_rate:9.2f} {their_rate:9.2f} "
                  f"{ours_rate / their_rate:6.3f} {preview_ratio} "
                  f"{mine.vram:8.2f}/{other.vram:<9.2f} {mine.first:8.2f}/{other.first:<8.2f}",
                  flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
