"""The unCLIP (Karlo) pixel cascade after the prior, as ``UnCLIPPipeline`` runs it, on the
common denoise loop: the 64px decoder conditioned on a CLIP image embedding and the prompt
through ``UnCLIPTextProjModel`` (guidance against its learned unconditional embedding and the
empty prompt, learned variance, the text attention mask), then super-resolution from the
bicubic-upscaled image (one UNet for every step but the last, another for the last). Each
stage runs as a ``DiffusionModel`` view of family ``karlo``, whose hooks call these networks
and step the unCLIP scheduler to the next timestep of its schedule. Images here are
[B, 3, H, W] in -1..1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.text.projection import encode_projected
from pipelines.values import (
    Conditioning,
    DiffusionModel,
    ImageEmbedding,
    Latent,
    Noise,
    UnclipDecoder,
)

StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class _SharedNoise(Noise):
    """One generator carried through several stages (``UnCLIPPipeline`` draws every stage from
    the same one), for callers that pass ``generator``."""

    shared: Any = None

    def generators(self, batch_size: int) -> Any:
        return self.shared


def _stage(denoiser: Any, config: dict[str, Any], source: str) -> DiffusionModel:
    return DiffusionModel(denoiser=denoiser, scheduler_config=config, family="karlo",
                          latent_channels=3, vae_scale_factor=1, prediction_type="epsilon",
                          latent_rgb_factors=None, latent_rgb_bias=None, source=source)


def _run(model: DiffusionModel, positive: Conditioning, negative: Conditioning | None,
         shape: tuple[int, ...], noise: Noise, generator: Any, steps: int, cfg: float,
         device: torch.device, callback: StepCallback | None) -> torch.Tensor:
    from pipelines.sampling.denoise import denoise

    if steps < 2:  # the unCLIP scheduler spaces its timesteps by (T - 1) / (steps - 1)
        raise ValueError(f"steps must be at least 2, got {steps}")
    if generator is not None:
        noise = _SharedNoise(noise.seed, shared=generator)
    on_step = None if callback is None else (lambda i, total, _x0: callback(i, total))
    latent = denoise(model, positive, negative, Latent(torch.zeros(shape)), noise,
                     steps=steps, cfg=cfg, device=device, callback=on_step,
                     wants_x0=lambda _i, _total: False)
    return latent.samples


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
    halves = [Conditioning(embeds=h, text=text, extras={"class_labels": a, "attention_mask": m})
              for h, a, m in zip(hidden.chunk(1 + guided), additive.chunk(1 + guided),
                                 mask.chunk(1 + guided), strict=True)]
    positive, negative = halves[-1], halves[0] if guided else None
    size = int(decoder.config.sample_size)
    model = _stage(decoder, cascade.decoder_scheduler_config, cascade.source)
    x = _run(model, positive, negative, (batch, int(decoder.config.in_channels), size, size),
             noise, generator, steps, cfg if guided else 1.0, device, callback)
    return x.clamp(-1, 1)


def super_resolve(
    cascade: UnclipDecoder, image: torch.Tensor, noise: Noise | None = None, *,
    steps: int = 7, device: str | torch.device = "cpu",
    callback: StepCallback | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The super-resolution stage: [B, 3, h, w] in -1..1 -> [B, 3, S, S] in -1..1 (S: the
    super-resolution UNet's ``sample_size``), conditioned on the bicubic (antialiased) upscale."""
    device, noise = torch.device(device), noise or Noise(0)
    first = cascade.super_res_first
    channels, size = int(first.config.in_channels) // 2, int(first.config.sample_size)
    small = image.to(device=device, dtype=first.dtype)
    upscaled = F.interpolate(small, size=[size, size], mode="bicubic", align_corners=False,
                             antialias=True)
    positive = Conditioning(embeds=torch.zeros(1, 1, 1), text="",
                            extras={"low_res": upscaled, "last_unet": cascade.super_res_last})
    model = _stage(first, cascade.super_res_scheduler_config, cascade.source)
    return _run(model, positive, None, (image.shape[0], channels, size, size), noise,
                generator, steps, 1.0, device, callback)
