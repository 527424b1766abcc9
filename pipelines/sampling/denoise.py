"""The denoising loop: our own loop over the diffusers scheduler contract, matching the pipelines.

Per step: ``scale_model_input`` -> UNet on [uncond, cond] -> classifier-free guidance ->
``scheduler.step`` -> optional inpainting blend -> ``callback``. With the same seed and settings
the result equals diffusers' StableDiffusionPipeline / Img2ImgPipeline output.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.sampling.inpaint import inpaint_channels
from pipelines.sampling.noise import randn
from pipelines.sampling.samplers import make_scheduler, rescale_guidance, seed_noise_sampler
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

StepCallback = Callable[[int, int, torch.Tensor], None]


def _batched(tensor: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.repeat(batch, *([1] * (tensor.dim() - 1)))
    raise ValueError(f"{what} has batch {tensor.shape[0]} but the latent has batch {batch}")


def _same_length(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Long prompts have several token windows: repeat each side's windows up to the least
    common multiple so both halves of the CFG batch have one sequence length."""
    if a.shape[1] == b.shape[1]:
        return a, b
    length = math.lcm(a.shape[1], b.shape[1])
    return a.repeat(1, length // a.shape[1], 1), b.repeat(1, length // b.shape[1], 1)


def _guidance_embedding(cfg: float, dim: int, batch: int) -> torch.Tensor:
    """LCM-distilled UNets take (cfg - 1) as a sinusoidal embedding, as the SD pipeline builds it."""
    w = torch.tensor(cfg - 1).repeat(batch) * 1000.0
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    emb = w.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 == 1 else emb


def _prepare_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Resize a noise mask ([h,w], [B,h,w] or [B,1,h,w], any size) to [B or 1, 1, h, w]."""
    mask = mask.to(device=like.device, dtype=torch.float32)
    while mask.dim() < 4:
        mask = mask.unsqueeze(0 if mask.dim() < 3 else 1)
    if mask.shape[-2:] != like.shape[-2:]:
        mask = F.interpolate(mask, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return mask[:, :1].clamp(0, 1)


def _predicted_x0(
    scheduler: Any, output: Any, model_output: torch.Tensor, sample: torch.Tensor, prediction: str
) -> torch.Tensor:
    """x0 for previews: the scheduler's own estimate when its step returns one, else from sigma.

    Called after ``step``, so the step's sigma is ``sigmas[step_index - 1]``.
    """
    for name in ("pred_original_sample", "denoised"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    sigma = scheduler.sigmas[scheduler.step_index - 1].to(sample.device, torch.float32)
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t"):  # x = alpha x0 + sigma eps
        alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
        x = sample
    else:  # x = x0 + sigma eps; the model saw x / sqrt(sigma^2 + 1)
        alpha_t = (sigma**2 + 1) ** -0.5
        sigma_t, x = sigma * alpha_t, sample * alpha_t
    if prediction == "v_prediction":
        return alpha_t * x - sigma_t * model_output
    if prediction == "sample":
        return model_output
    if prediction == "flow_prediction":
        return sample - sigma_t * model_output
    return (x - sigma_t * model_output) / alpha_t


def _added_cond(
    model: DiffusionModel, pos: Conditioning, neg: Conditioning | None, x: torch.Tensor, cfg: bool
) -> dict[str, torch.Tensor] | None:
    """SDXL micro-conditioning: pooled text embeds + (orig size, crop 0,0, target size); the
    refiner takes (orig size, crop 0,0, aesthetic score) instead: 6.0 positive, 2.5 negative,
    the defaults of diffusers' SDXL img2img pipeline."""
    if getattr(model.unet.config, "addition_embed_type", None) != "text_time":
        return None
    if pos.pooled is None or (cfg and neg is not None and neg.pooled is None):
        raise ValueError(
            "This model needs pooled text embeddings (encode with its SDXL text encoders)"
        )
    batch, height, width = (
        x.shape[0],
        x.shape[2] * model.vae_scale_factor,
        x.shape[3] * model.vae_scale_factor,
    )
    pooled = _batched(pos.pooled, batch, "positive pooled")
    if cfg:
        pooled = torch.cat([_batched(neg.pooled, batch, "negative pooled"), pooled])
    config = model.unet.config
    id_count = 6
    if getattr(config, "projection_class_embeddings_input_dim", None) and getattr(
        config, "addition_time_embed_dim", None
    ):
        id_count = (
            config.projection_class_embeddings_input_dim - pooled.shape[-1]
        ) // config.addition_time_embed_dim
    if id_count == 5:  # refiner: aesthetic score instead of the target size
        positive_ids = [[height, width, 0, 0, 6.0]] * batch
        ids = ([[height, width, 0, 0, 2.5]] * batch if cfg else []) + positive_ids
        time_ids = torch.tensor(ids, dtype=pooled.dtype)
    else:
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=pooled.dtype)
        time_ids = time_ids.repeat(pooled.shape[0], 1)
    return {"text_embeds": pooled.to(x.device), "time_ids": time_ids.to(x.device)}


def denoise(
    model: DiffusionModel,
    positive: Conditioning,
    negative: Conditioning | None,
    latent: Latent,
    noise: Noise,
    *,
    sampler: str = "euler",
    schedule: str = "normal",
    steps: int = 20,
    cfg: float = 7.5,
    denoise: float = 1.0,
    device: str | torch.device = "cpu",
    callback: StepCallback | None = None,
) -> Latent:
    """Run the sampler from noise (or from a noised latent) to a clean latent.

    ``denoise == 1``: start from ``noise * init_noise_sigma`` (the latent's content is ignored,
    except under a noise mask). ``denoise < 1`` follows diffusers' img2img convention:
    ``set_timesteps(steps)``, keep the last ``int(steps * denoise)`` steps and start from
    ``scheduler.add_noise(latent, noise, first_kept_timestep)``; with zero kept steps the latent
    comes back unchanged. Stochastic samplers draw per-step noise from the same generator(s)
    after the initial noise, exactly as the diffusers pipelines do. Guidance is
    ``uncond + cfg * (cond - uncond)``; the uncond pass is skipped only when ``cfg == 1``
    (diffusers skips it for every ``cfg <= 1``). With ``latent.noise_mask`` the area where the
    mask is 0 is reset after every step to the original latent noised to the next timestep;
    inpainting models (``model.inpainting``) instead get the mask and
    ``latent.masked_image_latents`` as extra UNet input channels (see ``pipelines.sampling.inpaint``).

    Args:
        model: The diffusion model.
        positive: Prompt conditioning (batch 1 or the latent's batch).
        negative: Negative conditioning; may be None when ``cfg == 1``.
        latent: Starting latent [B, C, h, w] in the scaled space (zeros for txt2img).
        noise: Seed and noise mode.
        sampler: A name from ``samplers.SAMPLERS``.
        schedule: A name from ``samplers.SCHEDULES`` (see ``samplers.schedules_for``).
        steps: Number of inference steps before ``denoise`` trimming.
        cfg: Classifier-free guidance scale.
        denoise: Strength in [0, 1].
        device: Where the UNet runs (the model must already be there).
        callback: ``callback(step_index, total_steps, x0)`` after every scheduler step, with the
            predicted clean latent on ``device``; ``total_steps`` counts scheduler steps (2n - 1
            for the second-order heun/dpm_2 samplers). An exception raised by it stops the loop
            and propagates (that is how cancelling works).

    Returns:
        A float32 CPU ``Latent`` (the input's noise mask is carried over).

    Raises:
        ValueError: Bad sampler/schedule/steps/denoise, mismatched batch sizes, or an
            inpainting model given a latent without mask and masked image.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not 0.0 <= denoise <= 1.0:
        raise ValueError(f"denoise must be between 0 and 1, got {denoise}")
    do_cfg = cfg != 1.0
    if do_cfg and negative is None:
        raise ValueError("A negative conditioning is needed when cfg is not 1")
    scheduler = make_scheduler(sampler, schedule, model.scheduler_config)
    device = torch.device(device)
    unet = model.unet
    original = latent.samples.to(device=device, dtype=torch.float32)
    batch = original.shape[0]

    scheduler.set_timesteps(steps, device=device)
    begin = 0
    if denoise < 1.0:
        begin = (steps - min(int(steps * denoise), steps)) * scheduler.order
    timesteps = scheduler.timesteps[begin:]
    if len(timesteps) == 0:
        return Latent(samples=original.cpu(), noise_mask=latent.noise_mask,
                      masked_image_latents=latent.masked_image_latents)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)

    generator = noise.generators(batch)
    initial = randn(tuple(original.shape), generator).to(device)
    seed_noise_sampler(scheduler, noise, original)  # dpmpp_sde's Brownian tree: from our seed
    if denoise >= 1.0:
        x = initial * scheduler.init_noise_sigma
    elif hasattr(scheduler, "add_noise"):
        x = scheduler.add_noise(original, initial, timesteps[:1].repeat(batch))
    else:  # flow-matching schedulers
        x = scheduler.scale_noise(original, timesteps[:1], initial)
    mask = None if latent.noise_mask is None else _prepare_mask(latent.noise_mask, original)
    # inpainting UNets take [mask, masked image] as input channels and are not blended
    # (diffusers' inpaint pipeline blends only for ordinary 4-channel UNets)
    extra = inpaint_channels(model, latent, original, do_cfg)
    if extra is not None:
        mask = None

    embeds = _batched(positive.embeds, batch, "positive conditioning")
    if do_cfg:
        negative_embeds = _batched(negative.embeds, batch, "negative conditioning")
        negative_embeds, embeds = _same_length(negative_embeds, embeds)
        embeds = torch.cat([negative_embeds, embeds])
    embeds = embeds.to(device=device, dtype=unet.dtype)
    unet_kwargs: dict[str, Any] = {"encoder_hidden_states": embeds, "return_dict": False}
    added = _added_cond(model, positive, negative, x, do_cfg)
    if added is not None:
        unet_kwargs["added_cond_kwargs"] = {k: v.to(unet.dtype) for k, v in added.items()}
    proj_dim = getattr(unet.config, "time_cond_proj_dim", None)
    if proj_dim is not None:
        unet_kwargs["timestep_cond"] = _guidance_embedding(cfg, proj_dim, batch).to(
            device, unet.dtype
        )

    step_params = inspect.signature(scheduler.step).parameters
    step_kwargs: dict[str, Any] = {}
    if "eta" in step_params:
        step_kwargs["eta"] = 0.0
    if "generator" in step_params:
        step_kwargs["generator"] = generator
    prediction = scheduler.config.get("prediction_type", "epsilon")
    total = len(timesteps)

    with torch.no_grad():
        for i, t in enumerate(timesteps):
            model_input = torch.cat([x] * 2) if do_cfg else x
            model_input = scheduler.scale_model_input(model_input, t)
            if extra is not None:
                model_input = torch.cat([model_input, extra], dim=1)
            model_output = unet(model_input.to(unet.dtype), t, **unet_kwargs)[0].to(x.dtype)
            if do_cfg:
                uncond, cond = model_output.chunk(2)
                model_output = uncond + cfg * (cond - uncond)
                if model.guidance_rescale > 0:
                    model_output = rescale_guidance(model_output, cond, model.guidance_rescale)
            sample = x
            output = scheduler.step(model_output, t, sample, **step_kwargs)
            x = output.prev_sample
            if mask is not None:
                kept = original
                if i < total - 1:
                    kept = scheduler.add_noise(original, initial, timesteps[i + 1 : i + 2])
                x = (1 - mask) * kept + mask * x
            if callback is not None:
                x0 = _predicted_x0(scheduler, output, model_output, sample, prediction)
                if mask is not None:
                    x0 = (1 - mask) * original + mask * x0
                callback(i, total, x0)
    return Latent(samples=x.to(device="cpu", dtype=torch.float32), noise_mask=latent.noise_mask,
                  masked_image_latents=latent.masked_image_latents)
