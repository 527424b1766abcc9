"""Prompt encoding for the SD latent x2 upscaler, exactly as
``StableDiffusionLatentUpscalePipeline.encode_prompt`` computes it: the CLIP encoder's last
hidden state *before* its final LayerNorm (``hidden_states[-1]``) as the cross-attention
states, and its pooled output (``pooler_output``) in ``extras["pooled"]`` (the upscaler adds it
to the noise level in its ``timestep_cond``). One 77-token window, truncated with a warning."""

from __future__ import annotations

import torch

from pipelines.speed.inference import ordinary
from pipelines.values import Conditioning, TextEncoder


def encode_hidden_pooled(clip: TextEncoder, text: str, device: str | torch.device = "cpu", *,
                         clip_skip: int | None = None) -> Conditioning:
    """Encode ``text`` with ``clip``'s one CLIP encoder (``clip_skip`` is not used here).

    Returns:
        Conditioning on the CPU: embeds [1, 77, width], ``extras["pooled"]`` [1, width].

    Raises:
        ValueError: the model has no text encoder.
    """
    from pipelines.text.conditioning import _tokenize

    encoder, tokenizer = clip.text_encoder, clip.tokenizer
    if encoder is None or tokenizer is None:
        raise ValueError(f"{clip.source} has no text encoder")
    text = text.encode("utf-8", "replace").decode("utf-8")
    ids, _ = _tokenize(tokenizer, text)
    with torch.inference_mode():
        out = encoder(ids.to(torch.device(device)), output_hidden_states=True)
    dtype = encoder.dtype
    return Conditioning(embeds=ordinary(out.hidden_states[-1].to(dtype).cpu()), text=text,
                        extras={"pooled": ordinary(out.pooler_output.to(dtype).cpu())})
