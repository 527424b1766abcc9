"""The unCLIP (Karlo) pixel cascade after the prior, as ``UnCLIPPipeline`` runs it: the 64px
decoder conditioned on a CLIP image embedding and the prompt through ``UnCLIPTextProjModel``
(guidance against its learned unconditional embedding and the empty prompt, learned variance),
then super-resolution from the bicubic-upscaled image (one UNet for every step but the last,
another for the last). Images here are [B, 3, H, W] in -1..1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.sampling.noise import randn
from pipelines.text.projection import encode_projected
from pipelines.values import ImageEmbedding, Noise, UnclipDecoder

StepCallback = Callable[[int, int], None]


def _scheduler(config: dict[str, Any], steps: int, device: torch.device) -> Any:
    from diffusers import UnCLIPScheduler

    if steps < 2:  # UnCLIPScheduler spaces its timesteps by (T - 1) / (steps - 1)
        raise ValueError(f"steps must be at least 2, got {steps}")
    scheduler = UnCLIPScheduler.from_config(config)
    scheduler.set_timesteps(steps, device=device)
    return scheduler


def _prev(timesteps: torch.Tensor, i: int) -> torch.Tensor | None:
    return None if i + 1 == len(timesteps) else timesteps[i + 1]


def decode_embedding(
    cascade: UnclipDecoder, embedding: ImageEmbedding, text: str, noise: Noise | None = None, *,
    steps: int = 25, cfg: float = 8.0, device: str | torch.device = "cpu",
    callback: StepCallback | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The decoder's small image [B, 3, s, s] in -1..1 (s: the decoder's ``sample_size``) of
    an image embedding [B, dim] and its prompt; guidance when ``cfg > 1``."""
    device, noise = torch.device(device), noise or Noise(0)
    decoder, proj = cascade.decoder, cascade.text_proj
    batch, guided = embedding.embeds.shape[0], cfg > 1.0
    with torch.no_grad():
        embeds, hidden, mask = encode_projected(cascade.tokenizer, cascade.text_encoder,
                                                [text] * batch, device)
        if guided:
            u_embeds, u_hidden, u_mask = encode_projected(cascade.tokenizer, cascade.text_encoder,
                                                          [""] * batch, device)
            embeds, hidden = torch.cat([u_embeds, embeds]), torch.cat([u_hidden, hidden])
            mask = torch.cat([u_mask, mask])
        image_embeds = embedding.embeds.to(device=device, dtype=embeds.dtype)
        hidden, additive = proj(image_embeddings=image_embeds, prompt_embeds=embeds,
                                text_encoder_hidden_states=hidden,
                                do_classifier_free_guidance=guided)
        mask = F.pad(mask, (proj.clip_extra_context_tokens, 0), value=True)
        scheduler = _scheduler(cascade.decoder_scheduler_config, steps, device)
        timesteps = scheduler.timesteps
        channels, size = int(decoder.config.in_channels), int(decoder.config.sample_size)
        generator = generator or noise.generators(batch)
        x = randn((batch, channels, size, size), generator, hidden.dtype).to(device)
        x = x * scheduler.init_noise_sigma
        for i, t in enumerate(timesteps):
            model_input = torch.cat([x] * 2) if guided else x
            pred = decoder(sample=model_input, timestep=t, encoder_hidden_states=hidden,
                           class_labels=additive, attention_mask=mask).sample
            if guided:
                uncond, cond = pred.chunk(2)
                uncond, _ = uncond.split(channels, dim=1)
                cond, variance = cond.split(channels, dim=1)
                pred = torch.cat([uncond + cfg * (cond - uncond), variance], dim=1)
            x = scheduler.step(pred, t, x, prev_timestep=_prev(timesteps, i),
                               generator=generator).prev_sample
            if callback is not None:
                callback(i, len(timesteps))
    return x.clamp(-1, 1).float().cpu()


def super_resolve(
    cascade: UnclipDecoder, image: torch.Tensor, noise: Noise | None = None, *,
    steps: int = 7, device: str | torch.device = "cpu",
    callback: StepCallback | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The super-resolution stage: [B, 3, h, w] in -1..1 -> [B, 3, S, S] in -1..1 (S: the
    super-resolution UNet's ``sample_size``), conditioned on the bicubic (antialiased) upscale."""
    device, noise = torch.device(device), noise or Noise(0)
    first, last = cascade.super_res_first, cascade.super_res_last
    with torch.no_grad():
        scheduler = _scheduler(cascade.super_res_scheduler_config, steps, device)
        timesteps = scheduler.timesteps
        channels, size = int(first.config.in_channels) // 2, int(first.config.sample_size)
        batch = image.shape[0]
        generator = generator or noise.generators(batch)
        x = randn((batch, channels, size, size), generator, first.dtype).to(device)
        x = x * scheduler.init_noise_sigma
        small = image.to(device=device, dtype=first.dtype)
        upscaled = F.interpolate(small, size=[size, size], mode="bicubic", align_corners=False,
                                 antialias=True)
        for i, t in enumerate(timesteps):
            unet = last if i == len(timesteps) - 1 else first
            pred = unet(sample=torch.cat([x, upscaled], dim=1), timestep=t).sample
            x = scheduler.step(pred, t, x, prev_timestep=_prev(timesteps, i),
                               generator=generator).prev_sample
            if callback is not None:
                callback(i, len(timesteps))
    return x.float().cpu()
