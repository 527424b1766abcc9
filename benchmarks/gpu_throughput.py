"""Sampling throughput of full-size UNets: our denoising loop vs the diffusers pipelines.

Builds the real SD1.5 and SDXL UNet architectures from the config templates shipped in
resources/configs (random weights: speed does not depend on the weights) and times 512x512
(SD1.5) and 1024x1024 (SDXL) sampling with classifier-free guidance (batch 2 through the UNet
per step), euler, side by side in one run: ``pipelines.sampling.denoise.denoise`` against
``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` called with the same UNet, the same
embeddings and ``output_type="latent"`` (text encoding and VAE decoding are left out on both
sides). Each dtype is measured with and without ``torch.compile``.

Run it wherever a CUDA GPU is at hand:
    .venv/bin/python benchmarks/gpu_throughput.py [--steps 30] [--dtypes fp16,bf16]
        [--models sd15,sdxl] [--compile both|off|on]
``--smoke`` runs the same code with tiny UNets at 128 px on the CPU (a few seconds; the test
suite runs it so the script cannot rot).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass
class Family:
    """One model family to measure: its UNet config, scheduler config and text widths."""

    name: str
    size: int
    unet_config: dict[str, Any]
    scheduler_config: dict[str, Any]
    text_dim: int
    pooled_dim: int | None  # SDXL's pooled text embedding; None for SD1.x


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def families(names: list[str], smoke: bool) -> list[Family]:
    """The families to measure: real configs, or tiny ones with the same block types."""
    configs = ROOT / "resources" / "configs"
    sd15 = _json(configs / "sd1" / "unet" / "config.json")
    sdxl = _json(configs / "sdxl" / "unet" / "config.json")
    sizes = {"sd15": 512, "sdxl": 1024}
    if smoke:
        from pipelines.testing.tiny import _UNET_BASE

        sd15 = dict(_UNET_BASE, cross_attention_dim=32)
        sdxl = dict(_UNET_BASE, attention_head_dim=(2, 4), use_linear_projection=True,
                    addition_embed_type="text_time", addition_time_embed_dim=8,
                    transformer_layers_per_block=(1, 2),
                    projection_class_embeddings_input_dim=80, cross_attention_dim=64)
        sizes = {"sd15": 128, "sdxl": 128}
    out = []
    for name in names:
        if name == "sd15":
            out.append(Family("SD1.5", sizes[name], sd15,
                              _json(configs / "sd1" / "scheduler" / "scheduler_config.json"),
                              int(sd15["cross_attention_dim"]), None))
        elif name == "sdxl":
            pooled = 32 if smoke else 1280
            out.append(Family("SDXL", sizes[name], sdxl,
                              _json(configs / "sdxl" / "scheduler" / "scheduler_config.json"),
                              int(sdxl["cross_attention_dim"]), pooled))
        else:
            raise SystemExit(f"unknown model {name!r}; use sd15 and/or sdxl")
    return out


def build_unet(family: Family, device: Any, dtype: Any) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: random init of 2.6B weights on CPU is slow
        unet = UNet2DConditionModel.from_config(family.unet_config)
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # its advice about casting with to() is for training
    return unet.to(dtype=dtype).eval().requires_grad_(False)


def build_pipeline(family: Family, unet: Any, scheduler: Any) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if family.pooled_dim is None:
        pipe = StableDiffusionPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet,
                                       scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    else:
        pipe = StableDiffusionXLPipeline(vae=None, text_encoder=None, text_encoder_2=None,
                                         tokenizer=None, tokenizer_2=None, unet=unet,
                                         scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(family: Family, device: Any, dtype_name: str, compiled: bool, steps: int,
            reps: int, cfg: float = 7.5) -> tuple[float, float, float]:
    """Returns: (ours it/s, diffusers it/s, max |ours - diffusers| of the final latents)."""
    import torch
    from diffusers import EulerDiscreteScheduler

    from pipelines.sampling.denoise import denoise
    from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

    dtype = getattr(torch, DTYPES[dtype_name])
    unet = build_unet(family, device, dtype)
    if compiled:
        unet = torch.compile(unet)
    generator = torch.Generator("cpu").manual_seed(1)
    embeds = torch.randn(2, 77, family.text_dim, generator=generator).to(device, dtype)
    pooled = (None if family.pooled_dim is None else
              torch.randn(2, family.pooled_dim, generator=generator).to(device, dtype))
    positive = Conditioning(embeds[1:], "positive", {} if pooled is None else {"pooled": pooled[1:]})
    negative = Conditioning(embeds[:1], "negative", {} if pooled is None else {"pooled": pooled[:1]})
    latent_side = family.size // 8  # the pipelines assume scale factor 8 without a VAE
    model = DiffusionModel(denoiser=unet, scheduler_config=family.scheduler_config,
                           family="sdxl" if pooled is not None else "sd1", latent_channels=4,
                           vae_scale_factor=8,
                           prediction_type="epsilon", latent_rgb_factors=None,
                           latent_rgb_bias=None, source=family.name)
    empty = Latent(torch.zeros(1, 4, latent_side, latent_side))

    def ours(n: int) -> Any:
        return denoise(model, positive, negative, empty, Noise(0), sampler="euler", steps=n,
                       cfg=cfg, device=device).samples

    scheduler = EulerDiscreteScheduler.from_config(family.scheduler_config)
    pipe = build_pipeline(family, unet, scheduler)
    extra = {}
    if pooled is not None:
        extra = {"pooled_prompt_embeds": pooled[1:], "negative_pooled_prompt_embeds": pooled[:1]}

    def theirs(n: int) -> Any:
        return pipe(prompt_embeds=embeds[1:], negative_prompt_embeds=embeds[:1],
                    num_inference_steps=n, guidance_scale=cfg, height=family.size,
                    width=family.size, generator=torch.Generator("cpu").manual_seed(0),
                    output_type="latent", **extra).images

    def timed(run: Any) -> float:
        _sync(device)
        start = time.perf_counter()
        run(steps)
        _sync(device)
        return steps / (time.perf_counter() - start)

    with torch.inference_mode():
        difference = float((ours(steps).float().cpu() - theirs(steps).float().cpu()).abs().max())
        ours_rates, their_rates = [], []
        for _ in range(reps):  # interleaved, so drifting clocks hit both sides alike
            ours_rates.append(timed(ours))
            their_rates.append(timed(theirs))
    return statistics.median(ours_rates), statistics.median(their_rates), difference


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="sd15,sdxl")
    parser.add_argument("--dtypes", default="fp16,bf16")
    parser.add_argument("--compile", choices=("both", "off", "on"), default="both")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny UNets, 128 px, fp32 on the CPU (checks the script runs)")
    args = parser.parse_args(argv)

    import torch

    if args.smoke:
        device, dtypes, compile_modes = torch.device("cpu"), ["fp32"], [False]
        args.steps, args.reps = min(args.steps, 3), 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("No CUDA GPU here; run with --smoke to check the script on CPU.")
        device = torch.device("cuda")
        dtypes = args.dtypes.split(",")
        compile_modes = {"both": [False, True], "off": [False], "on": [True]}[args.compile]
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    for name in dtypes:
        if name not in DTYPES:
            raise SystemExit(f"unknown dtype {name!r}; use {', '.join(DTYPES)}")
    print(f"euler, {args.steps} steps, cfg 7.5 (UNet batch 2), medians of {args.reps}")
    print(f"{'model':6} {'size':>9} {'dtype':5} {'compile':7} {'ours it/s':>10} "
          f"{'diffusers it/s':>14} {'ratio':>6} {'max |diff|':>10}")
    for family in families(args.models.split(","), args.smoke):
        for dtype_name in dtypes:
            for compiled in compile_modes:
                ours, theirs, diff = measure(family, device, dtype_name, compiled, args.steps,
                                             args.reps)
                gc.collect()  # the UNet of this row goes before the next one is built
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                size = f"{family.size}x{family.size}"
                print(f"{family.name:6} {size:>9} {dtype_name:5} {'yes' if compiled else 'no':7} "
                      f"{ours:10.2f} {theirs:14.2f} {ours / theirs:6.3f} {diff:10.2e}",
                      flush=True)


if __name__ == "__main__":
    main()
