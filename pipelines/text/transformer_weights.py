"""``(word:1.3)`` prompt weights for the T5 part of SD3 / Flux prompts: each span tokenized
alone, the end token and padding added as the tokenizer adds them, and the T5 states of the
weighted tokens scaled (the usual way for T5, as DeepFloyd IF's encoder here does; no case
folding). The CLIP encoders get the text with the syntax removed: Flux reads only CLIP-L's
pooled output; SD3 weighs its CLIP states itself (``pipelines.text.sd3``). A prompt without the syntax never comes
here, so it encodes exactly as the diffusers pipelines do."""

from __future__ import annotations

import logging
from typing import Any

import torch

from pipelines.text.prompt_weights import has_syntax, parse

log = logging.getLogger(__name__)


def weighted(text: str) -> bool:
    return has_syntax(text)


def plain_text(text: str) -> str:
    """The prompt with its weighting syntax removed (what a CLIP encoder reads)."""
    return "".join(span.text for span in parse(text)) if has_syntax(text) else text


def t5_weighted_states(tokenizer: Any, encoder: Any, text: str, length: int,
                       device: torch.device) -> torch.Tensor:
    """T5 last hidden states [1, length, d] of a prompt with weight syntax, each token's
    state multiplied by its span's weight (end token and padding: 1)."""
    ids: list[int] = []
    weights: list[float] = []
    for span in parse(text):
        span_ids = tokenizer(span.text, add_special_tokens=False).input_ids if span.text else []
        ids += span_ids
        weights += [span.weight] * len(span_ids)
    if len(ids) > length - 1:
        log.warning("Prompt truncated to %d T5 tokens: %.60s...", length, text)
        ids, weights = ids[: length - 1], weights[: length - 1]
    ids.append(tokenizer.eos_token_id)
    weights.append(1.0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids += [pad] * (length - len(ids))
    weights += [1.0] * (length - len(weights))
    states = encoder(torch.tensor([ids], device=device))[0]
    return states * torch.tensor(weights, device=device, dtype=states.dtype)[None, :, None]
