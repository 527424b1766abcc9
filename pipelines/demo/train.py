"""Train the built-in demo model from scratch on procedural shapes and save a diffusers folder.

Phase 1 trains the VAE (L1 + MSE reconstruction, tiny KL) and freezes it; a bank of latents of
training images is then encoded once; phase 2 trains the text encoder and the UNet end to end
on the closed-form forward process x_t = sqrt(abar) x0 + sqrt(1 - abar) eps at uniform t, with
the scheduler's prediction target (v by default, epsilon also works), 10% empty captions (for
classifier-free guidance) and an EMA of the weights.
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from . import dataset
from .components import build_components, encode_prompts, fit_latent_preview, save_model_folder
from .figures import save_captioned_grid, save_loss_plot
from .loop import lr_factor, prepare_run, progress_bar, train_with_ema

DEFAULT_STEPS = 3000
DEFAULT_VAE_STEPS = 1800
GRID_PROMPTS = (
    "a red circle on a blue background",
    "a small yellow triangle in the top left on black",
    "large green square, white background",
    "a purple circle in the bottom right on an orange background",
    "white triangle on red",
    "a large blue square on a yellow background",
    "an orange circle in the top right, green background",
    "a small red square on a white background",
)


def _load_weights(components: dict[str, Any], folder: Path) -> None:
    """Copy the VAE, text encoder and UNet weights of a saved demo folder into components."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    for name, cls in (("vae", AutoencoderKL), ("unet", UNet2DConditionModel),
                      ("text_encoder", CLIPTextModel)):
        saved = cls.from_pretrained(str(folder / name), local_files_only=True)
        components[name].load_state_dict(saved.state_dict())


def train_vae(vae: Any, steps: int, batch_size: int, seed: int, device: str,
              progress: bool, lr: float = 2e-3) -> list[float]:
    """Phase 1: fit the autoencoder on random images of every combo (all colours matter)."""
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if steps == 0:
        vae.eval().requires_grad_(False)
        return []
    vae.train().to(device)
    with torch.no_grad():  # start near-deterministic: unit posterior noise would drown the signal
        vae.quant_conv.bias[vae.config.latent_channels:] = -8.0
    optimiser = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    losses: list[float] = []
    bar = progress_bar(range(steps), progress, "vae")
    for step in bar:
        for group in optimiser.param_groups:
            group["lr"] = lr * lr_factor(step, steps, warmup=50)
        images, _, _ = dataset.sample_batch(batch_size, rng, gen, dataset.ALL_COMBOS)
        images = images.to(device)
        posterior = vae.encode(images).latent_dist
        recon = vae.decode(posterior.sample()).sample
        # Shapes cover ~10% of the pixels; weighting them 5x makes their colours learn early.
        shape_pixels = (images - images[:, :, :1, :1]).abs().amax(1, keepdim=True) > 0.1
        weight = 1.0 + 4.0 * shape_pixels.float()
        error = recon - images
        loss = (error.abs() * weight).mean() + (error.pow(2) * weight).mean()
        loss = loss + 1e-6 * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if progress and step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    vae.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def encode_bank(vae: Any, size: int, seed: int, device: str
                ) -> tuple[torch.Tensor, list[dataset.ShapeSpec], torch.Tensor]:
    """Unscaled latents (posterior means) of ``size`` training images, their specs and a
    few of the images themselves (for fitting the preview map)."""
    rng, gen = random.Random(seed + 7), torch.Generator().manual_seed(seed + 7)
    latents, specs = [], []
    first_images = torch.empty(0)
    for start in range(0, size, 256):
        images, _, batch_specs = dataset.sample_batch(min(256, size - start), rng, gen)
        latents.append(vae.encode(images.to(device)).latent_dist.mean.cpu())
        specs += batch_specs
        if start == 0:
            first_images = images
    return torch.cat(latents), specs, first_images


def train_denoiser(components: dict[str, Any], latents: torch.Tensor,
                   specs: Sequence[dataset.ShapeSpec], steps: int, batch_size: int, seed: int,
                   device: str, progress: bool, lr: float = 1e-3,
                   snapshot_dir: Path | None = None, snapshot_every: int = 0) -> list[float]:
    """Phase 2: text encoder + UNet on scaled latents; the EMA weights are copied back."""
    unet, text_encoder, tokenizer = (components[k] for k in ("unet", "text_encoder", "tokenizer"))
    alphas_cumprod = components["scheduler"].alphas_cumprod.to(device)
    v_prediction = components["scheduler"].config.prediction_type == "v_prediction"
    rng, gen = random.Random(seed + 11), torch.Generator().manual_seed(seed + 11)
    torch.manual_seed(seed + 11)
    modules = torch.nn.ModuleList([unet, text_encoder]).train().to(device)
    ema = copy.deepcopy(modules).eval().requires_grad_(False)
    optimiser = torch.optim.AdamW(modules.parameters(), lr=lr, weight_decay=0.01)

    def loss_at(step: int) -> torch.Tensor:
        index = torch.randint(0, len(latents), (batch_size,), generator=gen)
        x0 = latents[index].to(device)
        captions = ["" if rng.random() < 0.1 else dataset.make_caption(specs[i], rng)
                    for i in index.tolist()]
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, len(alphas_cumprod), (batch_size,), generator=gen).to(device)
        abar = alphas_cumprod[t].view(-1, 1, 1, 1)
        noisy = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        context = encode_prompts(text_encoder, tokenizer, captions)
        target = abar.sqrt() * noise - (1 - abar).sqrt() * x0 if v_prediction else noise
        return torch.nn.functional.mse_loss(unet(noisy, t, context).sample, target)

    def snapshot(step: int) -> None:
        if snapshot_dir and snapshot_every and (step + 1) % snapshot_every == 0:
            _snapshot(components, ema, snapshot_dir / f"progress_{step + 1:06d}.png")

    losses = train_with_ema(modules, ema, optimiser, lr, steps, loss_at, progress, "unet+text",
                            snapshot)
    modules.load_state_dict(ema.state_dict())
    modules.eval().requires_grad_(False)
    return losses


def _snapshot(components: dict[str, Any], ema: torch.nn.ModuleList, path: Path) -> None:
    """A sample grid from the current EMA weights (for watching a long run)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from .components import SCHEDULER_CONFIG
    from .evaluate import generate

    pipe = StableDiffusionPipeline(
        vae=components["vae"], text_encoder=ema[1], tokenizer=components["tokenizer"],
        unet=ema[0], scheduler=EulerDiscreteScheduler.from_config(SCHEDULER_CONFIG),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    images = generate(pipe, list(GRID_PROMPTS), [0] * len(GRID_PROMPTS))
    save_captioned_grid(images, GRID_PROMPTS, path, columns=4)


def train_demo(out_dir: str | Path, steps: int = DEFAULT_STEPS,
               vae_steps: int = DEFAULT_VAE_STEPS, device: str = "cpu", seed: int = 0,
               batch_size: int = 48, vae_batch_size: int = 12, bank_size: int | None = None,
               progress: bool = True, threads: int | None = 2, grid_steps: int = 20,
               snapshot_every: int = 0, resume_from: str | Path | None = None) -> Path:
    """Train the demo model and save it to ``out_dir`` (written to a temp folder, then moved).

    Args:
        out_dir: destination; must not exist, be empty, or hold a previous model folder.
        steps / vae_steps: optimiser steps of the denoiser / VAE phases.
        device: "cpu" or "cuda". seed: makes the run reproducible.
        bank_size: latents encoded for phase 2 (default: enough for ~4 epochs, capped).
        threads: torch CPU threads (None leaves torch's default).
        grid_steps: sampling steps for the ``samples.png`` grid.
        snapshot_every: if > 0, write VAE reconstructions and a sample grid every this many
            steps into the temp work folder (to watch a long run).
        resume_from: a saved demo folder whose weights start this run; its VAE is kept
            as is when ``vae_steps`` is 0 (continue training the denoiser only).
    Returns:
        ``out_dir`` holding the diffusers folder, ``loss.png`` and ``samples.png``.
    """
    out = prepare_run(out_dir, threads)
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix=".demo-train-", dir=out.parent if out.parent.exists()
                                 else None))
    components = build_components(seed, work / "tokenizer")
    if resume_from:
        _load_weights(components, Path(resume_from))
    vae_losses = train_vae(components["vae"], vae_steps, vae_batch_size, seed, device, progress)
    bank = bank_size or int(min(12000, max(256, steps * batch_size // 4)))
    latents, specs, images = encode_bank(components["vae"], bank, seed, device)
    if snapshot_every:
        with torch.no_grad():
            recon = components["vae"].decode(latents[:16]).sample
        pictures = [_to_pil(x) for x in torch.cat([images[:16], recon])]
        save_captioned_grid(pictures, ["input"] * 16 + ["reconstruction"] * 16,
                            work / "vae_reconstruction.png", columns=8)
    scale = 1.0 / latents.std().item()
    components["vae"].register_to_config(scaling_factor=scale)
    latents = latents * scale
    losses = train_denoiser(components, latents, specs, steps, batch_size, seed, device, progress,
                            snapshot_dir=work, snapshot_every=snapshot_every)
    preview = fit_latent_preview(latents[: len(images)], images)
    preview.update(latent_space="scaled latents (as the sampler sees them)", rgb_range=[-1, 1])
    info = {"trained_steps": steps, "vae_steps": vae_steps, "seed": seed,
            "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5),
            "train_seconds": round(time.time() - started, 1)}
    folder = save_model_folder(work / "model", components, preview, info)
    save_loss_plot({"vae": vae_losses, "diffusion": losses}, folder / "loss.png")
    save_sample_grid(folder, folder / "samples.png", device=device, steps=grid_steps)
    shutil.rmtree(work / "tokenizer")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(out))
    shutil.rmtree(work, ignore_errors=True)
    return out


def _to_pil(image: torch.Tensor) -> Any:
    from PIL import Image

    pixels = ((image.float().cpu() + 1) * 127.5).round().clamp(0, 255).byte()
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def save_sample_grid(model_dir: str | Path, path: str | Path, device: str = "cpu",
                     steps: int = 20) -> Path:
    """Generate the grid prompts (2 seeds each) with plain diffusers and save a captioned PNG."""
    from .evaluate import generate, load_pipeline

    pipe = load_pipeline(model_dir, device=device)
    prompts = [p for p in GRID_PROMPTS for _ in range(2)]
    seeds = [s for _ in GRID_PROMPTS for s in range(2)]
    images = generate(pipe, prompts, seeds, steps=steps)
    return save_captioned_grid(images, prompts, path, columns=4)


def main(argv: Sequence[str] | None = None) -> int:
    """``train-demo --out DIR [--steps N] [--vae-steps N] [--device cpu|cuda] [--seed S] ...``."""
    parser = argparse.ArgumentParser(prog="train-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the model into")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--vae-steps", type=int, default=DEFAULT_VAE_STEPS)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--resume-from", default=None,
                        help="start from a saved demo folder (with --vae-steps 0: keep its VAE)")
    parser.add_argument("--stage", default="base", choices=["base", "superres"],
                        help="base: the 64px text-to-image model; superres: its 64 -> 128 px "
                        "super-resolution stage (resources/models/demo-sr)")
    parser.add_argument("--base", default=None,
                        help="superres: the demo model whose text encoder conditions it "
                        "(default: the built-in one)")
    parser.add_argument("--crop", type=int, default=32, help="superres: training crop (px)")
    args = parser.parse_args(argv)
    if args.stage == "superres":
        return _train_superres(args, argv)
    out = train_demo(args.out, steps=args.steps, vae_steps=args.vae_steps, device=args.device,
                     seed=args.seed, batch_size=args.batch_size, threads=args.threads,
                     resume_from=args.resume_from)
    print(f"saved demo model to {out}")
    return 0


def _train_superres(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """``train-demo --stage superres``: ``--steps`` and ``--batch-size`` default to the stage's."""
    from .superres import BASE, DEFAULT_SR_STEPS, train_superres

    def given(flag: str) -> bool:
        return any(a == flag or a.startswith(flag + "=") for a in argv or [])

    steps = args.steps if given("--steps") else DEFAULT_SR_STEPS
    batch = args.batch_size if given("--batch-size") else 16
    out = train_superres(args.out, base=args.base or BASE, steps=steps, batch_size=batch,
                         crop=args.crop, seed=args.seed, threads=args.threads,
                         device=args.device)
    print(f"saved demo super-resolution stage to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
