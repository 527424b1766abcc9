"""Prompt encoding for an unCLIP prior: a CLIP text encoder with projection gives the projected
text embedding, the last hidden states and the attention mask, exactly as
``KandinskyV22PriorPipeline._encode_prompt`` computes them (one 77-token window)."""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)


def encode_projected(tokenizer: Any, text_encoder: Any, texts: list[str],
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns: (text_embeds [B, dim], last hidden states [B, seq, width], bool mask [B, seq])."""
    tokens = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    full = tokenizer(texts, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > tokenizer.model_max_length:
        log.warning("Prompt truncated to %d tokens: %.60s...", tokenizer.model_max_length,
                    texts[0])
    out = text_encoder(tokens.input_ids.to(device))
    return out.text_embeds, out.last_hidden_state, tokens.attention_mask.bool().to(device)
