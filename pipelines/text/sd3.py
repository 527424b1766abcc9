"""Prompt encoding for Stable Diffusion 3 / 3.5, computing exactly what
``StableDiffusion3Pipeline.encode_prompt`` feeds the transformer: CLIP-L and CLIP-G
penultimate hidden states (77 tokens each, concatenated along the width), zero-padded to
T5-XXL's width and joined with the T5 states (``max_sequence_length`` tokens, 256 by default)
along the sequence; the pooled output is both CLIPs' projected outputs concatenated.

One prompt feeds all three encoders (``encode_sd3``); the Text Encode SD3 node gives each its
own (``encode_sd3_prompts``). ``(word:1.3)`` weights scale the words' T5 states
(``transformer_weights``) and move the words' CLIP states away from the empty prompt's,
``empty + (state - empty) * w`` as ComfyUI weighs CLIP tokens (the pooled outputs are the
plain text's). Without a T5 encoder its states are zeros, as in diffusers.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.speed.inference import ordinary
from pipelines.values import Conditioning, TextEncoder

log = logging.getLogger(__name__)
MAX_SEQUENCE_LENGTH = 256  # the pipeline's default; the model was trained with up to 512
T5_XXL_WIDTH = 4096  # the states' width when no T5 encoder is loaded (joint_attention_dim)


def _device_of(module: Any) -> torch.device:
    return next(module.parameters()).device


def _clip_states(tokenizer: Any, encoder: Any, text: str, device: torch.device,
                 clip_skip: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states [1, 77, w], pooled [1, p]) of one CLIP, as ``_get_clip_prompt_embeds``."""
    from pipelines.text.prompt_weights import weighted_tokens
    from pipelines.text.transformer_weights import plain_text, weighted

    layer = -2 if clip_skip is None else -(clip_skip + 2)
    if weighted(text):
        tokens = weighted_tokens(tokenizer, text)
        if any(w != 1.0 for w in tokens.weights):
            return _weighted_clip_states(tokenizer, encoder, tokens, text, device, layer)
    length = tokenizer.model_max_length
    text = plain_text(text)
    ids = tokenizer(text, padding="max_length", max_length=length, truncation=True,
                    return_tensors="pt").input_ids
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > length:
        log.warning("Prompt truncated to %d CLIP tokens: %.60s...", length, text)
    out = encoder(ids.to(device), output_hidden_states=True)
    return out.hidden_states[layer], out[0]


def _weighted_clip_states(tokenizer: Any, encoder: Any, tokens: Any, text: str,
                          device: torch.device, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One CLIP's states of a weighted prompt: its first 77-token window (the pipeline
    truncates there), each token's state ``empty + (state - empty) * w``."""
    from pipelines.text.prompt_weights import Tokens, chunks

    windows = chunks(tokenizer, tokens)
    if len(windows) > 1:
        log.warning("Prompt truncated to %d CLIP tokens: %.60s...", tokenizer.model_max_length,
                    text)
    window, empty_ids = windows[0], chunks(tokenizer, Tokens())[0].ids
    out = encoder(torch.tensor([window.ids], device=device), output_hidden_states=True)
    empty = encoder(torch.tensor([empty_ids], device=device),
                    output_hidden_states=True).hidden_states[layer]
    state = out.hidden_states[layer]
    scale = torch.tensor(window.weights, dtype=state.dtype, device=device)[None, :, None]
    # only where the weight is not 1, as ComfyUI: the other tokens keep the plain states
    return torch.where(scale == 1.0, state, empty + (state - empty) * scale), out[0]


def _t5_states(tokenizer: Any, encoder: Any, text: str, device: torch.device,
               max_length: int) -> torch.Tensor:
    """T5 last hidden states [1, max_length, 4096], as ``_get_t5_prompt_embeds``; with
    ``(word:1.3)`` syntax the words' states scaled (``transformer_weights``)."""
    from pipelines.text.transformer_weights import t5_weighted_states, weighted

    if weighted(text):
        return t5_weighted_states(tokenizer, encoder, text, max_length, device)
    ids = tokenizer(text, padding="max_length", max_length=max_length, truncation=True,
                    add_special_tokens=True, return_tensors="pt").input_ids
    full = tokenizer(text, padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > max_length:
        log.warning("Prompt truncated to %d T5 tokens: %.60s...", max_length, text)
    return encoder(ids.to(device))[0]


def encode_sd3_prompts(clip: TextEncoder, clip_l: str, clip_g: str, t5: str,
                       device: str | torch.device = "cpu", *, clip_skip: int | None = None,
                       max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> Conditioning:
    """Encode one prompt per encoder (CLIP-L, CLIP-G, T5).

    Returns:
        Conditioning on the CPU: embeds [1, 77 + max_sequence_length, 4096 (T5 width)],
        ``extras["pooled"]`` [1, pooled L + pooled G].

    Raises:
        ValueError: the text encoder has no CLIP pair (it is not an SD3 one), or a bad length.
    """
    if clip.text_encoder is None or clip.text_encoder_2 is None:
        raise ValueError(f"{clip.source}: SD3 prompts need both CLIP text encoders (CLIP-L and "
                         "CLIP-G); load them with the checkpoint or Load Text Encoders")
    if not 1 <= max_sequence_length <= 512:
        raise ValueError(f"max_sequence_length must be 1..512, got {max_sequence_length}")
    device = torch.device(device)
    with torch.inference_mode():
        states_l, pooled_l = _clip_states(clip.tokenizer, clip.text_encoder, clip_l, device,
                                          clip_skip)
        states_g, pooled_g = _clip_states(clip.tokenizer_2, clip.text_encoder_2, clip_g, device,
                                          clip_skip)
        dtype = clip.text_encoder.dtype  # the pipeline casts both CLIPs' states to the first's
        clip_states = torch.cat([states_l.to(dtype), states_g.to(dtype)], dim=-1)
        if clip.text_encoder_3 is not None:
            t5_states = _t5_states(clip.tokenizer_3, clip.text_encoder_3, t5, device,
                                   max_sequence_length).to(clip.text_encoder_3.dtype)
        else:
            t5_states = torch.zeros(1, max_sequence_length, T5_XXL_WIDTH, device=device,
                                    dtype=dtype)
        clip_states = F.pad(clip_states, (0, t5_states.shape[-1] - clip_states.shape[-1]))
        embeds = torch.cat([clip_states, t5_states], dim=-2)
        pooled = torch.cat([pooled_l, pooled_g], dim=-1)
    return Conditioning(embeds=ordinary(embeds.float().cpu()), text=t5 or clip_l,
                        extras={"pooled": ordinary(pooled.float().cpu())})


def encode_sd3(clip: TextEncoder, text: str, device: str | torch.device = "cpu", *,
               clip_skip: int | None = None) -> Conditioning:
    """One prompt for all three encoders (the Text Encode node; ``PROMPT_ENCODERS["sd3"]``)."""
    return encode_sd3_prompts(clip, text, text, text, device, clip_skip=clip_skip)
