"""SD 2.1 unCLIP (Stable unCLIP): a CLIP image embedding, noise-augmented, conditions the UNet
through its class embedding (``class_embed_type="projection"``) beside the text states.

A conditioning carries its unCLIP images as ``extras["unclip"]``, a tensor [B, N, dim + 2]: per
batch item N image embeddings, each followed by its strength and noise augmentation (a tensor,
so conditioning operations that batch or move extras keep it). At sampling time each becomes

    class label = [unscale(add_noise(scale(embedding), noise, level)), timestep_embedding(level)]

with ``scale``/``unscale`` the model's ``image_normalizer`` statistics, ``add_noise`` its
``image_noising_scheduler`` (squaredcos DDPM) and ``level = round((T - 1) * augmentation)``.

Where ComfyUI (``comfy/model_base.py`` ``unclip_adm``, ``nodes.py`` ``unCLIPConditioning``) and
diffusers (``StableUnCLIPImg2ImgPipeline.noise_image_embeddings``) differ, and what we do:

- noise: diffusers draws the augmentation noise from the pipeline's generator before the
  initial latent noise; ComfyUI seeds a separate generator with ``seed - 10``. We draw it from
  the run's noise first, as diffusers does (parity with the pipeline).
- statistics: diffusers normalises with the ``image_normalizer`` mean/std; ComfyUI's
  ``CLIPEmbeddingNoiseAugmentation`` keeps non-persistent buffers of 0 and 1 that the checkpoint's
  ``noise_augmentor`` statistics never load into. We use the model's statistics (diffusers).
- strength: ComfyUI multiplies the whole label (embedding and level embedding) by ``strength``;
  diffusers has no strength (1). We follow ComfyUI (strength 1 equals diffusers).
- several images (stacked unCLIP Conditioning nodes): ComfyUI sums the weighted labels, then
  noises the summed embedding again at ``noise_augment_merge`` 0.05 (level 50) with an
  unseeded draw; diffusers takes one image. We follow ComfyUI with the draw from the run's noise.
- no image (a text-only conditioning, e.g. the negative): zeros, in both.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from pipelines.values import Conditioning, ImageEmbedding

KEY = "unclip"
MERGE_AUGMENTATION = 0.05  # ComfyUI's unclip_noise_augment_merge default


def add_unclip(cond: Conditioning, embedding: ImageEmbedding, strength: float,
               noise_augmentation: float) -> Conditioning:
    """``cond`` with one more unCLIP image (ComfyUI's unCLIPConditioning); strength 0: as is.

    Raises:
        ValueError: an augmentation outside 0..1, or an embedding whose width or batch does
            not fit the images already there.
    """
    if not 0.0 <= noise_augmentation <= 1.0:
        raise ValueError(f"noise augmentation must be between 0 and 1, got {noise_augmentation}")
    if strength == 0:
        return cond
    embeds = embedding.embeds.float().cpu()
    settings = torch.tensor([float(strength), float(noise_augmentation)]).expand(len(embeds), 2)
    entry = torch.cat([embeds, settings], dim=1)[:, None, :]
    old = cond.extras.get(KEY)
    if old is not None:
        if old.shape[-1] != entry.shape[-1]:
            raise ValueError(f"image embeddings of width {entry.shape[-1] - 2} and "
                             f"{old.shape[-1] - 2} cannot be stacked (different CLIP models)")
        batch = max(len(old), len(entry))
        if {len(old), len(entry)} - {1, batch}:
            raise ValueError(f"image embeddings of batch {len(entry)} and {len(old)} cannot "
                             "be stacked")
        entry = torch.cat([old.expand(batch, -1, -1), entry.expand(batch, -1, -1)], dim=1)
    return dataclasses.replace(cond, extras={**cond.extras, KEY: entry})


def _augment(embeds: torch.Tensor, level: int, noise: torch.Tensor,
             noising: dict[str, Any], mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """[noised embedding, level embedding], as ``noise_image_embeddings`` computes it."""
    from diffusers import DDPMScheduler
    from diffusers.models.embeddings import get_timestep_embedding

    levels = torch.tensor([level] * embeds.shape[0])
    scaled = (embeds - mean) * 1.0 / std
    noised = DDPMScheduler.from_config(noising).add_noise(scaled, noise, levels)
    noised = noised * std + mean
    level_embedding = get_timestep_embedding(levels, embeds.shape[-1], flip_sin_to_cos=True,
                                             downscale_freq_shift=0)
    return torch.cat([noised, level_embedding.to(noised.dtype)], dim=1)


def _draw(generator: Any, rows: int, width: int) -> torch.Tensor:
    """Noise [rows, width] from the run's generator(s): one generator draws the whole block
    (diffusers' ``randn_tensor``); one per image draws a row each."""
    if isinstance(generator, list):
        return torch.cat([torch.randn((1, width), generator=g) for g in generator[:rows]])
    return torch.randn((rows, width), generator=generator)


def unclip_labels(cond: Conditioning | None, batch: int, width: int, generator: Any,
                  extras: dict[str, Any]) -> torch.Tensor:
    """The class label [batch, width] of one conditioning (zeros without unCLIP images),
    drawing its augmentation noise from ``generator``.

    Raises:
        ValueError: a label width other than the UNet's, or a batch that does not fit.
    """
    entries = None if cond is None else cond.extras.get(KEY)
    if entries is None:
        return torch.zeros(batch, width)
    dim = entries.shape[-1] - 2
    if 2 * dim != width:
        raise ValueError(f"The unCLIP image embedding is {dim} wide but this model takes "
                         f"{width // 2}: encode the image with the model's own CLIP vision")
    if len(entries) not in (1, batch):
        raise ValueError(f"unCLIP images of batch {len(entries)} but the latent has batch "
                         f"{batch}")
    if isinstance(generator, list) and len(entries) != len(generator):
        entries = entries.expand(len(generator), -1, -1)
    noising, mean, std = extras["noising"], extras["mean"], extras["std"]
    steps = int(noising.get("num_train_timesteps", 1000)) - 1
    labels = []
    for n in range(entries.shape[1]):
        embeds = entries[:, n, :dim]
        strength, augmentation = (float(v) for v in entries[0, n, dim:])
        noise = _draw(generator, len(embeds), dim)
        labels.append(_augment(embeds, round(steps * augmentation), noise, noising, mean, std)
                      * strength)
    label = labels[0]
    if len(labels) > 1:  # ComfyUI's merge: the weighted sum, noised again at level 50
        summed = torch.stack(labels).sum(0)[:, :dim]
        noise = _draw(generator, len(summed), dim)
        label = _augment(summed, round(steps * MERGE_AUGMENTATION), noise, noising, mean, std)
    return label if len(label) == batch else label.expand(batch, -1)


def class_labels(positive: Conditioning, negative: Conditioning | None, batch: int,
                 cfg_batch: bool, width: int, generator: Any,
                 extras: dict[str, Any]) -> torch.Tensor:
    """The UNet's ``class_labels`` for one run: [negative, positive] under guidance."""
    label = unclip_labels(positive, batch, width, generator, extras)
    if cfg_batch:
        label = torch.cat([unclip_labels(negative, batch, width, generator, extras), label])
    return label
