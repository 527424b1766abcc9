"""The unCLIP prior loop (text -> CLIP image embedding) as ``KandinskyV22PriorPipeline`` runs
it: UnCLIPScheduler, classifier-free guidance on the predicted embedding, the prior's
``post_process_latents``, and the negative embedding: the CLIP embedding of a black image
without a negative prompt, else the prior's embedding of the negative prompt."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pipelines.sampling.noise import randn
from pipelines.speed.inference import ordinary
from pipelines.text.projection import encode_projected
from pipelines.values import ImageEmbedding, Noise, Prior

StepCallback = Callable[[int, int], None]


def zero_embedding(prior: Prior, batch: int, device: torch.device) -> torch.Tensor:
    """The image encoder's embedding of an all-zero image, repeated ``batch`` times."""
    encoder = prior.image_encoder
    size = int(encoder.config.image_size)
    zeros = torch.zeros(1, 3, size, size, device=device, dtype=encoder.dtype)
    return encoder(zeros)["image_embeds"].repeat(batch, 1)


def run_prior(
    prior: Prior, prompt: str, negative: str = "", noise: Noise | None = None, *,
    steps: int = 25, cfg: float = 4.0, device: str | torch.device = "cpu",
    callback: StepCallback | None = None, generator: torch.Generator | None = None,
) -> tuple[ImageEmbedding, ImageEmbedding]:
    """Sample the image embedding of ``prompt``.

    Args:
        prior: The loaded prior (its networks already on ``device``).
        prompt: The text.
        negative: The negative prompt; "" = none (guidance against the empty prompt, and the
            black image's embedding as the negative image embedding, the pipeline's default).
        noise: Seed (the initial embedding noise and the scheduler's per-step noise).
        steps, cfg: Inference steps and guidance scale (guidance when cfg > 1).
        callback: ``callback(step, total)`` after every step; raising stops the loop.
        generator: Draw from this generator instead of ``noise``'s (a cascade that shares one
            generator across stages, as ``UnCLIPPipeline`` does).

    Returns:
        (image embedding [1, dim], negative image embedding [1, dim]), float32 on the CPU.
    """
    from diffusers import UnCLIPScheduler

    if steps < 2:  # UnCLIPScheduler spaces its timesteps by (T - 1) / (steps - 1)
        raise ValueError(f"steps must be at least 2, got {steps}")
    device, noise = torch.device(device), noise or Noise(0)
    texts, negatives = [prompt], None
    if negative:
        texts, negatives = [prompt, negative], [negative, negative]
    guided = cfg > 1.0
    with torch.inference_mode():
        text_embeds, hidden, mask = encode_projected(prior.tokenizer, prior.text_encoder, texts,
                                                     device)
        if guided:
            uncond = negatives or [""] * len(texts)
            u_embeds, u_hidden, u_mask = encode_projected(prior.tokenizer, prior.text_encoder,
                                                          uncond, device)
            text_embeds = torch.cat([u_embeds, text_embeds])
            hidden, mask = torch.cat([u_hidden, hidden]), torch.cat([u_mask, mask])
        scheduler = UnCLIPScheduler.from_config(prior.scheduler_config)
        scheduler.set_timesteps(steps, device=device)
        timesteps = scheduler.timesteps
        generator = generator or noise.generators(len(texts))
        dim = int(prior.prior.config.embedding_dim)
        dtype = text_embeds.dtype
        latents = randn((len(texts), dim), generator, dtype).to(device) * scheduler.init_noise_sigma
        for i, t in enumerate(timesteps):
            model_input = torch.cat([latents] * 2) if guided else latents
            predicted = prior.prior(model_input, timestep=t, proj_embedding=text_embeds,
                                    encoder_hidden_states=hidden,
                                    attention_mask=mask).predicted_image_embedding
            if guided:
                uncond_pred, text_pred = predicted.chunk(2)
                predicted = uncond_pred + cfg * (text_pred - uncond_pred)
            prev = None if i + 1 == len(timesteps) else timesteps[i + 1]
            latents = scheduler.step(predicted, timestep=t, sample=latents, generator=generator,
                                     prev_timestep=prev).prev_sample
            if callback is not None:
                callback(i, len(timesteps))
        embeds = prior.prior.post_process_latents(latents)
        if negatives is None and prior.image_encoder is None:  # Karlo: the decoder has its own
            negative_embeds = torch.zeros_like(embeds)
        elif negatives is None:
            negative_embeds = zero_embedding(prior, embeds.shape[0], device)
        else:
            embeds, negative_embeds = embeds.chunk(2)
    return (ImageEmbedding(ordinary(embeds.float().cpu()), text=prompt),
            ImageEmbedding(ordinary(negative_embeds.float().cpu()), text=negative))
