"""Prompt encoding for CLIP-conditioned families, computing exactly what diffusers' pipelines
feed the denoiser; the model's family says which hidden layer and whether the pooled output
goes along (``ModelFamily.prompt_style``)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import torch

from pipelines.errors import StudioError
from pipelines.families import get_family
from pipelines.loading.embeddings import prompt_embeddings, spliced
from pipelines.speed.inference import ordinary
from pipelines.text.prompt_weights import (
    Tokens,
    chunks,
    embedding_names,
    has_syntax,
    weighted_tokens,
)
from pipelines.values import Conditioning, TextEncoder

log = logging.getLogger(__name__)
# Per text encoder slot: embedding name -> vectors [n, width]; None when the prompt has none.
Embeddings = list[dict[str, torch.Tensor] | None] | None


class TextEncoderMissing(StudioError, ValueError):
    """The model has no text encoder (an image-embedding decoder such as Kandinsky 2.2's)."""

    def __init__(self, source: str) -> None:
        super().__init__(f"{source} has no text encoder: it is conditioned on image embeddings "
                         "(use a prior or CLIP Vision Encode, then Image Embedding Conditioning)")


def _tokenize(tokenizer, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    max_length = tokenizer.model_max_length
    tokens = tokenizer(
        text, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    )
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > max_length:
        log.warning("Prompt truncated to %d tokens: %.60s...", max_length, text)
    return tokens.input_ids, tokens.attention_mask


def _prompt_tokens(
    tokenizer, text: str, embeddings: dict[str, torch.Tensor] | None
) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
    """ids and attention mask [1, max_length] plus the embedding vectors to splice in; without
    embeddings exactly the tokenizer's own output."""
    if embeddings is None:
        return (*_tokenize(tokenizer, text), {})
    tokens = weighted_tokens(tokenizer, text, embeddings)
    window = chunks(tokenizer, tokens)[0]  # short prompts only reach here
    used = len(tokens.ids) + 2
    attention = [1] * used + [0] * (len(window.ids) - used)
    return torch.tensor([window.ids]), torch.tensor([attention]), window.vectors


def _encode_sd(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None,
    embeddings: Embeddings = None,
) -> Conditioning:
    """StableDiffusionPipeline.encode_prompt: last hidden state (or clip_skip + final LayerNorm)."""
    te = clip.text_encoder
    ids, attention, vectors = _prompt_tokens(clip.tokenizer, text, embeddings and embeddings[0])
    mask = attention.to(device) if getattr(te.config, "use_attention_mask", False) else None
    with spliced(te, vectors):
        if clip_skip is None:
            embeds = te(ids.to(device), attention_mask=mask)[0]
        else:
            out = te(ids.to(device), attention_mask=mask, output_hidden_states=True)
            embeds = getattr(te, "text_model", te).final_layer_norm(
                out.hidden_states[-(clip_skip + 1)])
    return Conditioning(embeds=embeds.to(dtype=te.dtype), text=text)


def _pairs(clip: TextEncoder, embeddings: Embeddings) -> list[tuple[Any, Any, Any]]:
    """(tokenizer, text encoder, its embeddings) for each encoder the model has."""
    slots = ((clip.tokenizer, clip.text_encoder), (clip.tokenizer_2, clip.text_encoder_2))
    return [(tok, te, embeddings and embeddings[slot])
            for slot, (tok, te) in enumerate(slots) if te is not None]


def _extras(pooled: torch.Tensor | None, keep: bool) -> dict[str, torch.Tensor]:
    return {"pooled": pooled} if keep and pooled is not None else {}


def _encode_penultimate(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None,
    embeddings: Embeddings = None, keep_pooled: bool = True,
) -> Conditioning:
    """StableDiffusionXLPipeline.encode_prompt: penultimate states of every encoder,
    concatenated; pooled output of the last encoder."""
    states, pooled = [], None
    for tokenizer, te, tables in _pairs(clip, embeddings):
        ids, _, vectors = _prompt_tokens(tokenizer, text, tables)
        with spliced(te, vectors):
            out = te(ids.to(device), output_hidden_states=True)
        if pooled is None and out[0].ndim == 2:
            pooled = out[0]
        states.append(out.hidden_states[-(2 if clip_skip is None else clip_skip + 2)])
    dtype = clip.present()[-1][1].dtype
    embeds = torch.cat(states, dim=-1).to(dtype=dtype)
    return Conditioning(embeds=embeds, text=text,
                        extras=_extras(None if pooled is None else pooled.to(dtype), keep_pooled))


def _window_state(
    te, window: list[int], device: torch.device, penultimate: bool, clip_skip: int | None,
    vectors: dict[int, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states the UNet sees for one token window (same layer choice as the exact path)."""
    ids = torch.tensor([window], device=device)
    with spliced(te, vectors or {}):
        if not penultimate and clip_skip is None:
            return te(ids)[0], None
        out = te(ids, output_hidden_states=True)
    pooled = out[0] if out[0].ndim == 2 else None
    if penultimate:
        return out.hidden_states[-(2 if clip_skip is None else clip_skip + 2)], pooled
    return getattr(te, "text_model", te).final_layer_norm(out.hidden_states[-(clip_skip + 1)]), None


def _encode_weighted(
    clip: TextEncoder, text: str, device: torch.device, clip_skip: int | None,
    embeddings: Embeddings = None, layer: str = "last", keep_pooled: bool = False,
) -> Conditioning:
    """Weighted and/or long prompt: per-window encoding, weights applied around the empty
    prompt's embedding, windows concatenated along the sequence."""
    penultimate = layer == "penultimate"
    per_encoder, pooled = [], None
    for tokenizer, te, tables in _pairs(clip, embeddings):
        tokens = weighted_tokens(tokenizer, text, tables)
        empty, _ = _window_state(te, chunks(tokenizer, Tokens())[0].ids, device, penultimate,
                                 clip_skip)
        states = []
        for window in chunks(tokenizer, tokens):
            state, pool = _window_state(te, window.ids, device, penultimate, clip_skip,
                                        window.vectors)
            if pool is not None and pooled is None:
                pooled = pool
            scale = torch.tensor(window.weights, dtype=state.dtype, device=state.device)
            states.append(empty + (state - empty) * scale[None, :, None])
        per_encoder.append(torch.cat(states, dim=1))
    windows = min(t.shape[1] for t in per_encoder)
    dtype = clip.present()[-1][1].dtype
    embeds = torch.cat([t[:, :windows] for t in per_encoder], dim=-1).to(dtype)
    return Conditioning(embeds=embeds, text=text,
                        extras=_extras(None if pooled is None else pooled.to(dtype), keep_pooled))


def _needs_weighting(clip: TextEncoder, text: str, embeddings: Embeddings = None) -> bool:
    if has_syntax(text):
        return True
    tokenizer, _, tables = _pairs(clip, embeddings)[0]
    if tables is None:
        count = len(tokenizer(text, add_special_tokens=False).input_ids)
    else:  # an embedding counts as its vectors, not as the letters of its name
        count = len(weighted_tokens(tokenizer, text, tables).ids)
    return count > tokenizer.model_max_length - 2


# text_encoding -> (module, function(clip, text, device, *, clip_skip) -> Conditioning) for
# encodings other than "clip" (the CLIP windows below); imported only when used
PROMPT_ENCODERS: dict[str, tuple[str, str]] = {
    "t5": ("pipelines.text.t5", "encode_t5"),  # DeepFloyd IF: one T5 sequence, no CLIP windows
    # the SD latent x2 upscaler: CLIP's last states before the final norm + pooled output
    "clip_hidden_pooled": ("pipelines.text.hidden_pooled", "encode_hidden_pooled"),
    "sd3": ("pipelines.text.sd3", "encode_sd3"),  # CLIP-L + CLIP-G + T5 (SD3 / 3.5)
    "flux": ("pipelines.text.flux", "encode_flux"),  # Flux.1: CLIP-L pooled + T5 sequence
}


def skip_for_last_layer(last_layer: int, prompt_layer: str) -> int:
    """Our clip skip for ComfyUI's CLIPSetLastLayer ``last_layer`` (-1, -2, ...): families
    reading the last layer ("last") take layer -n through the final LayerNorm (clip skip
    n - 1); "penultimate" families take hidden state -n as it is (clip skip n - 2)."""
    return -last_layer - (1 if prompt_layer == "last" else 2)


def encode_text(
    clip: TextEncoder,
    text: str,
    device: str | torch.device = "cpu",
    clip_skip: int | None = None,
) -> Conditioning:
    """Encode a prompt exactly as diffusers does; prompts with ``(word:1.3)``-style weights or
    longer than the encoder's window go through ``prompt_weights`` (chunked, weighted).
    ``embedding:name`` splices a textual-inversion embedding from the embeddings folders.

    Args:
        clip: Tokenizer(s) and text encoder(s); ``clip.family`` says how they are read.
        text: The prompt ("" for the usual negative).
        device: Where the text encoder runs (it must already be there).
        clip_skip: Skip this many final layers (None = diffusers' default for the family).

    Returns:
        Conditioning on the CPU: embeds [1, seq, dim] (seq a multiple of the window for long
        prompts); ``extras["pooled"]`` [1, dim] for families that take it (SDXL).

    Raises:
        EmbeddingError: an ``embedding:`` file is missing, unreadable or for another model.
        TextEncoderMissing: the model has no text encoder.
    """
    family = get_family(clip.family)
    if clip_skip is None and clip.last_layer is not None:
        clip_skip = skip_for_last_layer(clip.last_layer, family.prompt_style(clip)[0])
    if family.text_encoding in PROMPT_ENCODERS:  # a family-specific encoder (T5, SD3, Flux)
        module, name = PROMPT_ENCODERS[family.text_encoding]
        encoder = getattr(importlib.import_module(module), name)
        return encoder(clip, text, device, clip_skip=clip_skip)
    if not clip.present():
        raise TextEncoderMissing(clip.source)
    device = torch.device(device)
    # a lone surrogate (from a damaged file) is no character; the tokenizers reject it
    text = text.encode("utf-8", "replace").decode("utf-8")
    names = embedding_names(text)
    embeddings = None
    if names:  # files are read and checked against the encoders before any encoding
        embeddings = prompt_embeddings(names, [clip.text_encoder, clip.text_encoder_2])
    layer, pooled = family.prompt_style(clip)
    with torch.inference_mode():
        if _needs_weighting(clip, text, embeddings):
            cond = _encode_weighted(clip, text, device, clip_skip, embeddings, layer, pooled)
        elif layer == "penultimate":
            cond = _encode_penultimate(clip, text, device, clip_skip, embeddings, pooled)
        else:
            cond = _encode_sd(clip, text, device, clip_skip, embeddings)
    extras = {name: ordinary(value.cpu()) for name, value in cond.extras.items()}
    return Conditioning(embeds=ordinary(cond.embeds.cpu()), text=text, extras=extras)
