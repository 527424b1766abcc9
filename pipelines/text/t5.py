"""Prompt encoding with a T5 encoder (DeepFloyd IF), computing exactly what diffusers'
``IFPipeline.encode_prompt`` feeds the UNet (with ``clean_caption=False``: lower-cased and
stripped, the fallback diffusers itself takes without ``bs4``/``ftfy``).

T5 has no 77-token windows: the prompt is one sequence, padded (and truncated, with a
warning) to the length IF was trained with, 77 tokens, the attention mask hiding the padding.
``(word:1.3)`` weights scale the T5 states of the weighted tokens (the usual way for T5, whose
states have no "empty prompt" baseline as CLIP's causal ones do).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from pipelines.speed.inference import ordinary
from pipelines.text.prompt_weights import has_syntax, parse
from pipelines.values import Conditioning, TextEncoder

log = logging.getLogger(__name__)
IF_MAX_LENGTH = 77  # "the text encoder was trained with a max length of 77 for IF"


def preprocess(text: str) -> str:
    """IF's caption preprocessing without ``clean_caption``."""
    return text.lower().strip()


def _plain_tokens(tokenizer: Any, text: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = tokenizer(text, padding="max_length", max_length=length, truncation=True,
                       add_special_tokens=True, return_tensors="pt")
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > length:
        log.warning("Prompt truncated to %d T5 tokens: %.60s...", length, text)
    return tokens.input_ids, tokens.attention_mask


def _weighted_tokens(tokenizer: Any, text: str,
                     length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids, attention mask and one weight per position for a prompt with ``(word:w)`` syntax:
    each span tokenized alone, then the end token and padding as the tokenizer adds them."""
    ids: list[int] = []
    weights: list[float] = []
    for span in parse(text):
        piece = preprocess(span.text)
        span_ids = tokenizer(piece, add_special_tokens=False).input_ids if piece else []
        ids += span_ids
        weights += [span.weight] * len(span_ids)
    if len(ids) > length - 1:
        log.warning("Prompt truncated to %d T5 tokens: %.60s...", length, text)
        ids, weights = ids[: length - 1], weights[: length - 1]
    ids.append(tokenizer.eos_token_id)
    weights.append(1.0)
    used = len(ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids += [pad] * (length - used)
    weights += [1.0] * (length - used)
    mask = [1] * used + [0] * (length - used)
    return torch.tensor([ids]), torch.tensor([mask]), torch.tensor(weights)


def encode_t5(clip: TextEncoder, text: str, device: str | torch.device = "cpu",
              max_length: int = IF_MAX_LENGTH, *, clip_skip: int | None = None) -> Conditioning:
    """Encode a prompt with the T5 encoder in ``clip.text_encoder``.

    Args:
        clip: The T5 tokenizer and ``T5EncoderModel``.
        text: The prompt ("" for the unconditional negative); ``(word:1.3)`` weights words.
        device: Where the encoder runs (it must already be there).
        max_length: Sequence length (IF: 77).

    Returns:
        Conditioning on the CPU: embeds [1, max_length, d_model] in the encoder's dtype.

    Raises:
        ValueError: the text encoder is missing.
    """
    tokenizer, encoder = clip.tokenizer, clip.text_encoder
    if encoder is None or tokenizer is None:
        raise ValueError("This model has no T5 text encoder; encode the prompt with the "
                         "text encoder of its first stage")
    device = torch.device(device)
    weights = None
    if has_syntax(text):
        ids, mask, weights = _weighted_tokens(tokenizer, text, max_length)
    else:
        ids, mask = _plain_tokens(tokenizer, preprocess(text), max_length)
    with torch.inference_mode():
        embeds = encoder(ids.to(device), attention_mask=mask.to(device))[0]
    if weights is not None:
        embeds = embeds * weights.to(embeds.device, embeds.dtype)[None, :, None]
    return Conditioning(embeds=ordinary(embeds.to(dtype=encoder.dtype).cpu()), text=text)
