"""Prompt encoding for Flux.1, exactly ``FluxPipeline.encode_prompt``: CLIP-L's pooled output
(one 77-token window, truncated) goes to ``extras["pooled"]``; the T5 states of the prompt,
padded to ``max_sequence_length`` (dev 512, schnell 256; no attention mask, as the pipeline)
are the sequence. The text ids are zeros and are built with the image ids at sampling time.

ComfyUI's CLIPTextEncodeFlux gives CLIP-L and T5 their own prompts (``t5_text``) and sets the
embedded guidance on the conditioning (``extras["guidance"]``, a 0-d tensor).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from pipelines.families import get_family
from pipelines.speed.inference import ordinary
from pipelines.values import Conditioning, TextEncoder

log = logging.getLogger(__name__)


def _ids(tokenizer: Any, text: str, length: int, what: str) -> torch.Tensor:
    tokens = tokenizer(text, padding="max_length", max_length=length, truncation=True,
                       return_tensors="pt").input_ids
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > length:
        log.warning("Prompt truncated to %d %s tokens: %.60s...", length, what, text)
    return tokens


def encode_flux(clip: TextEncoder, text: str, device: str | torch.device = "cpu", *,
                clip_skip: int | None = None, t5_text: str | None = None,
                max_length: int | None = None,
                guidance: float | None = None) -> Conditioning:
    """Encode a prompt with Flux's CLIP-L (``text_encoder``) and T5 (``text_encoder_2``).

    Args:
        clip: The two tokenizer/encoder pairs.
        text: The prompt for CLIP-L (and for T5 unless ``t5_text`` is given).
        device: Where the encoders run (they must already be there).
        clip_skip: Unused: Flux reads CLIP-L's pooled output only.
        t5_text: Another prompt for T5 (ComfyUI's CLIPTextEncodeFlux ``t5xxl`` field).
        max_length: T5 sequence length; None: the family's (dev 512, schnell 256).
        guidance: The embedded guidance of dev models, carried as ``extras["guidance"]``.

    Returns:
        Conditioning on the CPU: embeds [1, max_length, d_model] (T5), extras "pooled"
        [1, 768] (CLIP-L) and optionally "guidance".

    Raises:
        ValueError: one of the two encoders is missing.
    """
    if clip.text_encoder is None or clip.text_encoder_2 is None:
        missing = "CLIP-L" if clip.text_encoder is None else "T5"
        raise ValueError(f"This Flux text encoder has no {missing}: load both CLIP-L and T5 "
                         "(Load Text Encoders with type flux)")
    family = get_family(clip.family)
    length = max_length or int(getattr(family, "t5_max_length", 512))
    device = torch.device(device)
    clip_l, t5 = clip.text_encoder, clip.text_encoder_2
    from pipelines.text.transformer_weights import plain_text, t5_weighted_states, weighted

    t5_prompt = text if t5_text is None else t5_text
    clip_ids = _ids(clip.tokenizer, plain_text(text), clip.tokenizer.model_max_length, "CLIP")
    with torch.inference_mode():
        pooled = clip_l(clip_ids.to(device), output_hidden_states=False).pooler_output
        if weighted(t5_prompt):  # (word:1.3): the word's T5 states scaled
            embeds = t5_weighted_states(clip.tokenizer_2, t5, t5_prompt, length, device)
        else:
            t5_ids = _ids(clip.tokenizer_2, t5_prompt, length, "T5")
            embeds = t5(t5_ids.to(device), output_hidden_states=False)[0]
    extras = {"pooled": ordinary(pooled.to(dtype=clip_l.dtype).cpu())}
    if guidance is not None:
        extras["guidance"] = torch.tensor(float(guidance))
    return Conditioning(embeds=ordinary(embeds.to(dtype=t5.dtype).cpu()), text=text,
                        extras=extras)


def with_guidance(cond: Conditioning, guidance: float) -> Conditioning:
    """A copy of ``cond`` whose embedded Flux guidance is ``guidance`` (ComfyUI FluxGuidance)."""
    from dataclasses import replace

    value = torch.tensor(float(guidance))  # on every entry; hints and areas are kept
    return cond.each(lambda entry: replace(entry, extras={**entry.extras, "guidance": value}))
