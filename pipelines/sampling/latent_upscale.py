"""The SD latent x2 upscaler (``StableDiffusionLatentUpscalePipeline``): an SD latent in, a
twice larger SD latent out.

Its UNet is a k-diffusion model, not a diffusers epsilon/v network: it is called with
``log(sigma) / 4`` as timestep, its input is the scaled sample next to the low-resolution
latent upsampled (nearest), its ``timestep_cond`` is a noise-level embedding (ones, zeros)
followed by the pooled prompt, and its output (last channel dropped) becomes the denoised
estimate through k-diffusion's preconditioning ``x / (sigma^2 + 1) + sigma / sqrt(sigma^2 + 1)
* F``. Guidance is applied to that estimate and Euler (``prediction_type="sample"``) steps with
it. That step-indexed preconditioning is why this is its own loop and not ``denoise``'s: the
denoiser needs each step's sigma, which the common loop does not hand the family. With the
same seed the result equals the pipeline's ``output_type="latent"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from pipelines.errors import StudioError
from pipelines.families import get_family
from pipelines.families.unet import batched
from pipelines.sampling.noise import randn
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

FAMILY = "sd_x2_latent_upscaler"
StepCallback = Callable[[int, int, torch.Tensor], None]


class NotALatentUpscaler(StudioError):
    """The model given to the latent upscale sampler is not the latent x2 upscaler."""


def _check(model: DiffusionModel, latent: Latent, positive: Conditioning) -> None:
    if model.family != FAMILY:
        raise NotALatentUpscaler(f"{model.source} is not the SD latent x2 upscaler (it is "
                                 f"{get_family(model.family).label or model.family})")
    if latent.space is not None and get_family(latent.space).latent.pixels:
        raise ValueError("this latent is in pixel space; the latent upscaler takes SD latents")
    channels = int(model.denoiser.config.in_channels) - model.latent_channels
    if latent.samples.shape[1] != channels:
        raise ValueError(f"the latent has {latent.samples.shape[1]} channels; the latent "
                         f"upscaler takes SD latents with {channels}")
    if "pooled" not in positive.extras:
        raise ValueError("the prompts were not encoded with the latent upscaler's own text "
                         "encoder (its pooled output is missing)")
    if not positive.plain:  # its own loop reads one prompt (no entries, areas or step ranges)
        raise ValueError("the latent upscaler takes one plain prompt: combined, area, mask "
                         "and timestep-range conditionings work with the Sampler")


def upscale_latent_x2(
    model: DiffusionModel, positive: Conditioning, negative: Conditioning | None,
    latent: Latent, noise: Noise, *, steps: int = 75, cfg: float = 9.0,
    device: str | torch.device = "cpu", callback: StepCallback | None = None,
) -> Latent:
    """Sample a latent twice the size of ``latent`` conditioned on it.

    Args:
        model: The latent x2 upscaler (family ``sd_x2_latent_upscaler``).
        positive, negative: Conditioning from its own text encoder (with ``extras["pooled"]``).
        latent: An SD latent [B, 4, h, w] (scaled, as a Sampler or VAE Encode gives it).
        noise: The seed of the initial noise.
        steps: Euler steps.
        cfg: Guidance scale; 1 skips the unconditional pass.
        device: Where the UNet runs (it must already be there).
        callback: ``callback(step_index, total_steps, x0)`` after every step.

    Returns:
        A float32 CPU Latent [B, 4, 2h, 2w] in the input latent's space.

    Raises:
        NotALatentUpscaler: another model.
        ValueError: bad steps, a pixel or wrong-channel latent, prompts of another encoder,
            or a missing negative when guiding.
    """
    from diffusers import EulerDiscreteScheduler

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    _check(model, latent, positive)
    do_cfg = cfg != 1.0
    if do_cfg and negative is None:
        raise ValueError("A negative conditioning is needed when cfg is not 1")
    device = torch.device(device)
    family = get_family(model.family)
    dtype = family.denoiser_dtype(model)
    scheduler = EulerDiscreteScheduler.from_config(model.scheduler_config)
    scheduler.set_timesteps(steps, device=device)
    image = latent.samples.to(device=device, dtype=torch.float32)
    batch = image.shape[0]
    embeds = batched(positive.embeds, batch, "positive conditioning")
    pooled = batched(positive.extras["pooled"], batch, "positive conditioning")
    if do_cfg:
        assert negative is not None
        embeds = torch.cat([batched(negative.embeds, batch, "negative conditioning"), embeds])
        pooled = torch.cat([batched(negative.extras.get("pooled", pooled[:1]), batch,
                                    "negative conditioning"), pooled])
        image = torch.cat([image, image])
    # noise level 0: the embedding is (ones, zeros) and the low-res latent is not rescaled
    level = torch.cat([torch.ones(pooled.shape[0], 64), torch.zeros(pooled.shape[0], 64)], 1)
    timestep_cond = torch.cat([level.to(device), pooled.to(device, torch.float32)], 1).to(dtype)
    image_cond = F.interpolate(image, scale_factor=2, mode="nearest").to(dtype)
    embeds = embeds.to(device, dtype)

    generator = noise.generators(batch)
    shape = (batch, model.latent_channels, latent.samples.shape[2] * 2,
             latent.samples.shape[3] * 2)
    x = randn(shape, generator).to(device) * scheduler.init_noise_sigma
    total = len(scheduler.timesteps)
    with torch.inference_mode():
        for i, t in enumerate(scheduler.timesteps):
            sigma = scheduler.sigmas[i]
            model_input = torch.cat([x, x]) if do_cfg else x
            scaled = torch.cat([scheduler.scale_model_input(model_input, t).to(dtype),
                                image_cond], dim=1)
            out = model.denoiser(scaled, torch.log(sigma) * 0.25, encoder_hidden_states=embeds,
                                 timestep_cond=timestep_cond).sample[:, :-1].to(x.dtype)
            inv_sigma = 1 / (sigma**2 + 1)  # multiplied, as the pipeline does (bit-exact)
            denoised = inv_sigma * model_input + scheduler.scale_model_input(sigma, t) * out
            if do_cfg:
                uncond, cond = denoised.chunk(2)
                denoised = uncond + cfg * (cond - uncond)
            x = scheduler.step(denoised, t, x).prev_sample
            if callback is not None:
                callback(i, total, denoised)
    samples = x.to(device="cpu", dtype=torch.float32)
    if samples.is_inference():
        samples = samples.clone()
    return Latent(samples=samples, space=latent.space)
