"""Prompt encoding, computing exactly what diffusers' pipelines feed the UNet."""

from __future__ import annotations

import logging

import torch

from pipelines.prompt_weights import chunks, has_syntax, weighted_tokens
from pipelines.types import Conditioning, TextEncoder

log = logging.getLogger(__name__)


def _tokenize(tokenizer, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    max_length = tokenizer.model_max_length
    tokens = tokenizer(
        text, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    )
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > max_length:
        log.warning("Prompt truncated to %d tokens: %.60s...", max_length, text)
    return tokens.input_ids, tokens.attention_mask


def _encode_sd(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None
) -> Conditioning:
    """StableDiffusionPipeline.encode_prompt: last hidden state (or clip_skip + final LayerNorm)."""
    te = clip.text_encoder
    ids, attention = _tokenize(clip.tokenizer, text)
    mask = attention.to(device) if getattr(te.config, "use_attention_mask", False) else None
    if clip_skip is None:
        embeds = te(ids.to(device), attention_mask=mask)[0]
    else:
        hidden = te(ids.to(device), attention_mask=mask, output_hidden_states=True).hidden_states
        embeds = getattr(te, "text_model", te).final_layer_norm(hidden[-(clip_skip + 1)])
    return Conditioning(embeds=embeds.to(dtype=te.dtype), pooled=None, text=text)


def _encode_sdxl(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None
) -> Conditioning:
    """StableDiffusionXLPipeline.encode_prompt: penultimate states of both encoders, concatenated;
    pooled output of the last encoder."""
    pairs = [
        (tok, te)
        for tok, te in (
            (clip.tokenizer, clip.text_encoder),
            (clip.tokenizer_2, clip.text_encoder_2),
        )
        if te is not None
    ]
    states, pooled = [], None
    for tokenizer, te in pairs:
        ids, _ = _tokenize(tokenizer, text)
        out = te(ids.to(device), output_hidden_states=True)
        if pooled is None and out[0].ndim == 2:
            pooled = out[0]
        states.append(out.hidden_states[-(2 if clip_skip is None else clip_skip + 2)])
    dtype = clip.text_encoder_2.dtype
    embeds = torch.cat(states, dim=-1).to(dtype=dtype)
    return Conditioning(
        embeds=embeds, pooled=None if pooled is None else pooled.to(dtype), text=text
    )


def _window_state(
    te, window: list[int], device: torch.device, sdxl: bool, clip_skip: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states the UNet sees for one token window (same layer choice as the exact path)."""
    ids = torch.tensor([window], device=device)
    if not sdxl and clip_skip is None:
        return te(ids)[0], None
    out = te(ids, output_hidden_states=True)
    pooled = out[0] if out[0].ndim == 2 else None
    if sdxl:
        return out.hidden_states[-(2 if clip_skip is None else clip_skip + 2)], pooled
    return getattr(te, "text_model", te).final_layer_norm(out.hidden_states[-(clip_skip + 1)]), None


def _encode_weighted(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None
) -> Conditioning:
    """Weighted and/or long prompt: per-window encoding, weights applied around the empty
    prompt's embedding, windows concatenated along the sequence."""
    sdxl = clip.text_encoder_2 is not None
    pairs = [(tok, te) for tok, te in ((clip.tokenizer, clip.text_encoder),
                                       (clip.tokenizer_2, clip.text_encoder_2)) if te is not None]
    per_encoder, pooled = [], None
    for tokenizer, te in pairs:
        ids, weights = weighted_tokens(tokenizer, text)
        empty, _ = _window_state(te, chunks(tokenizer, [], [])[0][0], device, sdxl, clip_skip)
        states = []
        for window, window_weights in chunks(tokenizer, ids, weights):
            state, pool = _window_state(te, window, device, sdxl, clip_skip)
            if pool is not None and pooled is None:
                pooled = pool
            scale = torch.tensor(window_weights, dtype=state.dtype, device=state.device)
            states.append(empty + (state - empty) * scale[None, :, None])
        per_encoder.append(torch.cat(states, dim=1))
    windows = min(t.shape[1] for t in per_encoder)
    dtype = (clip.text_encoder_2 or clip.text_encoder).dtype
    embeds = torch.cat([t[:, :windows] for t in per_encoder], dim=-1).to(dtype)
    return Conditioning(embeds=embeds, pooled=None if pooled is None else pooled.to(dtype),
                        text=text)


def _needs_weighting(clip: TextEncoder, text: str) -> bool:
    if has_syntax(text):
        return True
    tokenizer = clip.tokenizer or clip.tokenizer_2
    count = len(tokenizer(text, add_special_tokens=False).input_ids)
    return count > tokenizer.model_max_length - 2


def encode_text(
    clip: TextEncoder,
    text: str,
    device: str | torch.device = "cpu",
    clip_skip: int | None = None,
) -> Conditioning:
    """Encode a prompt exactly as diffusers does; prompts with ``(word:1.3)``-style weights or
    longer than the encoder's window go through ``prompt_weights`` (chunked, weighted).

    Args:
        clip: Tokenizer(s) and text encoder(s); a second pair means SDXL-style encoding.
        text: The prompt ("" for the usual negative).
        device: Where the text encoder runs (it must already be there).
        clip_skip: Skip this many final layers (None = diffusers' default for the family).

    Returns:
        Conditioning on the CPU: embeds [1, seq, dim] (seq a multiple of the window for long
        prompts); pooled [1, dim] for SDXL, else None.
    """
    device = torch.device(device)
    with torch.no_grad():
        if _needs_weighting(clip, text):
            cond = _encode_weighted(clip, text, device, clip_skip)
        elif clip.text_encoder_2 is not None:
            cond = _encode_sdxl(clip, text, device, clip_skip)
        else:
            cond = _encode_sd(clip, text, device, clip_skip)
    pooled = None if cond.pooled is None else cond.pooled.cpu()
    return Conditioning(embeds=cond.embeds.cpu(), pooled=pooled, text=text)
