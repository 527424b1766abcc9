"""The demo model's super-resolution stage: a tiny pixel-space diffusion UNet that takes the
demo's 64px images to 128px, conditioned like DeepFloyd IF stage II (the low-resolution image
resized to 128px, noise-augmented, concatenated to the sample; the augmentation level as class
label; the demo text encoder's states through cross-attention), so the Super-Resolution
Sampler runs it with ``pipelines.sampling.superres``. Unlike IF it resizes bicubically with
pixel centres and predicts the clean image as a residual to that resize
(``DEMO_SR_CONDITION``): flat regions, most of every picture, come out exact.

Training: ground truth is the procedural shape drawn at 128px, its input the same shape drawn
at 64px (``dataset.render`` with one generator state at both sizes). The UNet is fully
convolutional with cross-attention only (no self-attention), so it trains on random 32px crops
of the 128px pair, which keeps a CPU run to minutes, and samples whole images.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.families.demo_sr import DEMO_SR_CONDITION

from . import dataset
from .components import TEXT_HIDDEN, encode_prompts
from .loop import prepare_run, train_with_ema

FAMILY = "demo_sr"
SR_SIZE = 2 * dataset.IMAGE_SIZE
DEFAULT_SR_STEPS = 12000
MAX_NOISE_LEVEL = 350  # augmentation levels seen in training
DEFAULT_NOISE_LEVEL = 50
DEFAULT_SAMPLING_STEPS = 10
BASE = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo"

UNET_CONFIG: dict[str, Any] = {
    "sample_size": SR_SIZE,
    "in_channels": 6,  # the noisy 128px sample + the upsampled, noise-augmented 64px image
    "out_channels": 3,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    "block_out_channels": [16, 32, 32],
    "layers_per_block": 1,
    "cross_attention_dim": TEXT_HIDDEN,
    "attention_head_dim": 8,
    "only_cross_attention": True,  # no self-attention: crops in training, whole images after
    # 2 wide groups: GroupNorm removes each group's mean and scale, so in a flat region a group
    # of 2 channels (8 groups at 16 channels) keeps about 1 bit of the colour; a first run with
    # them drew blotchy backgrounds (x0 error 16x that of copying the input at t=999)
    "norm_num_groups": 2,
    "class_embed_type": "timestep",  # the augmentation level, as in IF stage II
}
# DDIM over a cosine schedule, trailing spacing (few-step sampling starts at t=999); the UNet
# predicts the clean image as a scaled residual to the resized input (``DEMO_SR_CONDITION``).
# ``set_alpha_to_one``: the last step returns that prediction (False left the noise of
# alphas_cumprod[0], 0.8/255 everywhere, which cost flat regions 10 dB and SSIM 0.01)
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "sample", "timestep_spacing": "trailing", "clip_sample": False,
    "set_alpha_to_one": True, "steps_offset": 0,
}
NOISING_CONFIG: dict[str, Any] = {"num_train_timesteps": 1000,
                                  "beta_schedule": "squaredcos_cap_v2"}


def render_pair(batch: int, rng: random.Random, seed: int,
                combos: tuple[dataset.Combo, ...] = dataset.TRAIN_COMBOS
                ) -> tuple[torch.Tensor, torch.Tensor, list[dataset.ShapeSpec]]:
    """(64px, 128px) images in -1..1 of the same ``batch`` random shapes, and their specs."""
    specs = [dataset.random_spec(rng, combos) for _ in range(batch)]
    low = dataset.render(specs, torch.Generator().manual_seed(seed))
    high = dataset.render(specs, torch.Generator().manual_seed(seed), size=SR_SIZE)
    return low * 2 - 1, high * 2 - 1, specs


def upsample(low: torch.Tensor, size: int = SR_SIZE) -> torch.Tensor:
    """The resize ``super_resolve`` applies to the stage's input (``DEMO_SR_CONDITION``)."""
    from pipelines.sampling.superres import resize_for_stage

    return resize_for_stage(low, (size, size), DEMO_SR_CONDITION)


def _crops(tensors: list[torch.Tensor], crop: int, gen: torch.Generator,
           tries: int = 1) -> list[torch.Tensor]:
    """The same ``crop`` window of each tensor, per batch item: of ``tries`` random windows the
    one with the most edge in ``tensors[0]``. Training takes the edgiest of 4: the stage
    predicts a residual that is zero on flat regions, so the edges are what it has to learn
    (on 5000-step runs: edge PSNR 33.0 dB against 30.5 dB with uniform crops)."""
    n, size = tensors[0].shape[0], tensors[0].shape[-1]
    image = tensors[0]
    edges = ((image[..., 1:, :-1] - image[..., :-1, :-1]).abs()
             + (image[..., :-1, 1:] - image[..., :-1, :-1]).abs()).sum(1)
    candidates = torch.randint(0, size - crop + 1, (n, tries, 2), generator=gen)
    offsets = []
    for i in range(n):
        energy = [float(edges[i, y:y + crop, x:x + crop].sum()) for y, x in candidates[i].tolist()]
        offsets.append(candidates[i, energy.index(max(energy))].tolist())
    return [torch.stack([t[i, :, y:y + crop, x:x + crop] for i, (y, x) in enumerate(offsets)])
            for t in tensors]


def _text(base: Path) -> tuple[Any, Any]:
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(base / "tokenizer"), local_files_only=True)
    encoder = CLIPTextModel.from_pretrained(str(base / "text_encoder"), local_files_only=True)
    return tokenizer, encoder.eval().requires_grad_(False)


def train_superres(out_dir: str | Path, base: str | Path = BASE, steps: int = DEFAULT_SR_STEPS,
                   batch_size: int = 16, crop: int = 32, seed: int = 0, lr: float = 2e-3,
                   threads: int | None = 1, progress: bool = True, device: str = "cpu",
                   edge_tries: int = 4) -> Path:
    """Train the 64 -> 128 px stage and save it as a diffusers-style folder in ``out_dir``.

    Args:
        out_dir: destination (replaced if it holds a previous model folder).
        base: the demo model whose text encoder conditions the stage (frozen).
        steps, batch_size, crop, lr: optimiser steps, crops per step, crop size (128px space).
        edge_tries: crop windows drawn per image, the edgiest kept (1: uniform crops).
        seed: makes the run reproducible. threads: torch CPU threads. device: "cpu" or "cuda"
            (the data and noise are drawn on the CPU either way).

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty and is not a model folder.
    """
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel

    out = prepare_run(out_dir, threads)
    started = time.time()
    tokenizer, text_encoder = _text(Path(base))
    text_encoder.to(device)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**UNET_CONFIG).train().to(device)
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    scheduler, noising = DDIMScheduler(**SCHEDULER_CONFIG), DDPMScheduler(**NOISING_CONFIG)
    abar_all = scheduler.alphas_cumprod
    residual_scale = float(DEMO_SR_CONDITION.residual_scale or 1.0)
    rng, gen = random.Random(seed + 3), torch.Generator().manual_seed(seed + 3)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.01)

    def loss_at(step: int) -> torch.Tensor:
        low, high, specs = render_pair(batch_size, rng, seed * 100003 + step)
        captions = ["" if rng.random() < 0.1 else dataset.make_caption(s, rng) for s in specs]
        # half the inputs clean (what a benchmark and a sharp first stage give), half augmented
        level = torch.randint(0, MAX_NOISE_LEVEL, (batch_size,), generator=gen)
        level = level * (torch.rand(batch_size, generator=gen) < 0.5)
        base = upsample(low)
        condition = noising.add_noise(base, torch.randn(high.shape, generator=gen), level)
        x0, condition, base = (c.to(device) for c in _crops([high, condition, base], crop, gen,
                                                            edge_tries))
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, len(abar_all), (batch_size,), generator=gen)
        abar = abar_all[t].view(-1, 1, 1, 1).to(device)
        t, level = t.to(device), level.to(device)
        noisy = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        target = (x0 - base) * residual_scale
        with torch.no_grad():
            context = encode_prompts(text_encoder, tokenizer, captions)
        output = unet(torch.cat([noisy, condition], 1), t, context, class_labels=level).sample
        return F.mse_loss(output, target)

    losses = train_with_ema(unet, ema, optimiser, lr, steps, loss_at, progress, "superres")
    info = {"trained_steps": steps, "batch_size": batch_size, "crop": crop, "seed": seed,
            "lr": lr, "edge_tries": edge_tries,
            "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5),
            "train_seconds": round(time.time() - started, 1), "threads": threads}
    return save_superres_folder(out, ema.cpu(), scheduler, noising, info, losses)


def save_superres_folder(out: Path, unet: Any, scheduler: Any, noising: Any,
                         info: dict[str, Any], losses: list[float]) -> Path:
    """Write the folder (unet/, scheduler/, image_noising_scheduler/, model_index.json,
    studio.json naming the ``demo_sr`` family, loss.png) through a temp folder, then move it."""
    from .figures import save_loss_plot

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".demo-sr-", dir=out.parent)) / "model"
    unet.save_pretrained(str(work / "unet"))
    scheduler.save_pretrained(str(work / "scheduler"))
    noising.save_pretrained(str(work / "image_noising_scheduler"))
    index = {"_class_name": "DemoSuperResolution", "_diffusers_version": "0.42.1",
             "unet": ["diffusers", "UNet2DConditionModel"],
             "scheduler": ["diffusers", "DDIMScheduler"],
             "image_noising_scheduler": ["diffusers", "DDPMScheduler"]}
    studio = {"family": FAMILY, "default_size": SR_SIZE, "default_steps": DEFAULT_SAMPLING_STEPS,
              "default_noise_level": DEFAULT_NOISE_LEVEL, "default_sampler": "ddim",
              "text_encoder": "the demo model's (resources/models/demo)", **info}
    for name, data in (("model_index.json", index), ("studio.json", studio)):
        (work / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    save_loss_plot({"super-resolution": losses}, work / "loss.png")
    if out.exists():
        shutil.rmtree(out)
    shutil.move(str(work), str(out))
    shutil.rmtree(work.parent, ignore_errors=True)
    return out
