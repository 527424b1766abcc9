"""Applying a style model (Flux Redux) as ComfyUI's StyleModelApply does: the image's SigLIP
tokens (a CLIP vision output's last hidden states) become text tokens through the model and
are appended to every entry's text tokens; "multiply" scales them by the strength. ("attn_bias"
biases the attention to them instead, which needs attention masks in the transformer: only
its neutral strength 1.0 is taken here.)"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from pipelines.speed.inference import ordinary

if TYPE_CHECKING:
    from pipelines.values import Conditioning

STRENGTH_TYPES = ("multiply", "attn_bias")


def style_tokens(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """The image tokens of every image, one sequence [1, images * tokens, width]."""
    parameter = next(model.parameters())
    with torch.inference_mode():
        tokens = model(hidden.to(parameter.device, parameter.dtype)).image_embeds
    return ordinary(tokens.float().cpu()).flatten(start_dim=0, end_dim=1).unsqueeze(0)


def apply_style(cond: Conditioning, model: Any, hidden: torch.Tensor | None, strength: float,
                strength_type: str = "multiply") -> Conditioning:
    """``cond`` with the style tokens appended to each entry's text tokens.

    Raises:
        ValueError: no hidden states, another width than the text tokens, or attn_bias at a
            strength other than 1.0.
    """
    if strength_type not in STRENGTH_TYPES:
        raise ValueError(f"strength_type must be one of {', '.join(STRENGTH_TYPES)}")
    if strength_type == "attn_bias" and strength != 1.0:
        raise ValueError("attn_bias at a strength other than 1.0 needs attention masks in the "
                         "transformer, which this studio does not have; use multiply")
    if hidden is None:
        raise ValueError("the image embedding has no hidden states: encode the image with "
                         "CLIP Vision Encode")
    tokens = style_tokens(model, hidden)
    if strength_type == "multiply":
        tokens = tokens * strength

    def change(entry: Conditioning) -> Conditioning:
        if entry.embeds.shape[-1] != tokens.shape[-1]:
            raise ValueError(f"the style model makes {tokens.shape[-1]}-wide tokens; this "
                             f"conditioning's are {entry.embeds.shape[-1]} (Redux is for Flux)")
        extra = tokens.to(entry.embeds).expand(entry.embeds.shape[0], -1, -1)
        return replace(entry, embeds=torch.cat([entry.embeds, extra], dim=1))

    return cond.each(change)
