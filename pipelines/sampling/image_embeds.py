"""CLIP image embeddings: encoding images with a CLIP vision encoder, mixing embeddings with
weights (Kandinsky's ``interpolate``), and the conditioning an image-embedding decoder takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pipelines.image import to_pil
from pipelines.speed.inference import ordinary
from pipelines.values import ClipVision, Conditioning, ImageEmbedding


@dataclass(eq=False)
class VisionOutput(ImageEmbedding):
    """An image embedding with the encoder's last hidden states [B, tokens, width] (ComfyUI's
    CLIP_VISION_OUTPUT ``last_hidden_state``: what a style model reads)."""

    hidden: torch.Tensor | None = None


def encode_image(vision: ClipVision, image: torch.Tensor,
                 device: str | torch.device = "cpu", crop: bool = True) -> ImageEmbedding:
    """The CLIP image embedding of each image of a batch [B, H, W, 3] in 0..1, prepared by the
    image processor (resize, center crop, normalize) from 8-bit images, as the pipelines do.
    ``crop=False`` (ComfyUI's crop "none"): the whole image, squashed to the encoder's square
    input instead of its shorter side resized and the rest cropped.

    Returns:
        ``VisionOutput`` [B, dim] (+ the hidden states), float32 on the CPU.
    """
    encoder = vision.image_encoder
    options: dict = {}
    if not crop:
        side = int(encoder.config.image_size)
        options = {"do_center_crop": False, "size": {"height": side, "width": side}}
    pixels = vision.image_processor(to_pil(image), return_tensors="pt", **options).pixel_values
    with torch.inference_mode():
        out = encoder(pixels.to(device=device, dtype=encoder.dtype))
    # a SigLIP tower (Flux Redux's) has no projection: its pooled output (or, without a
    # pooling head, the mean token) stands for it
    hidden = out["last_hidden_state"]
    embeds = next((out[k] for k in ("image_embeds", "pooler_output") if k in out),
                  hidden.mean(dim=1))
    return VisionOutput(ordinary(embeds.float().cpu()), text="(image)",
                        hidden=ordinary(hidden.float().cpu()))


def mix(embeddings: Sequence[ImageEmbedding], weights: Sequence[float]) -> ImageEmbedding:
    """The weighted sum of embeddings (not normalised: Kandinsky's ``interpolate``); a batch of
    one is repeated to the others' batch.

    Raises:
        ValueError: no embeddings, a weight count that differs, or incompatible shapes.
    """
    if not embeddings or len(embeddings) != len(weights):
        raise ValueError("Give as many weights as embeddings (at least one)")
    batch = max(e.embeds.shape[0] for e in embeddings)
    total = None
    for embedding, weight in zip(embeddings, weights, strict=True):
        embeds = embedding.embeds
        if embeds.shape[0] != batch:
            if embeds.shape[0] != 1:
                raise ValueError(f"Image embeddings of batch {embeds.shape[0]} and {batch} "
                                 "cannot be mixed")
            embeds = embeds.repeat(batch, 1)
        if total is not None and embeds.shape[-1] != total.shape[-1]:
            raise ValueError(f"Image embeddings of width {embeds.shape[-1]} and "
                             f"{total.shape[-1]} cannot be mixed (different CLIP models)")
        total = embeds * weight if total is None else total + embeds * weight
    assert total is not None
    text = " + ".join(f"{w:g}*{e.text or '?'}" for e, w in zip(embeddings, weights, strict=True))
    return ImageEmbedding(total, text=text)


def as_conditioning(embedding: ImageEmbedding) -> Conditioning:
    """The conditioning of an image-embedding decoder: ``extras["image_embeds"]`` [B, dim]
    (``embeds`` holds the same as a one-token sequence for code that expects states)."""
    embeds = embedding.embeds
    return Conditioning(embeds=embeds[:, None, :], text=embedding.text,
                        extras={"image_embeds": embeds})
