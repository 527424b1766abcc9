"""Stable Diffusion 3 / 3.5 nodes: a prompt per text encoder (ComfyUI's CLIPTextEncodeSD3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Link, Output, String, node
from node_api.ports import CLIP, CONDITIONING

if TYPE_CHECKING:
    from pipelines.values import Conditioning, TextEncoder


@node(
    "conditioning.text_encode_sd3",
    title="Text Encode SD3",
    category="conditioning",
    description="Encode a prompt for Stable Diffusion 3 / 3.5 with one text per encoder: "
    "CLIP-L, CLIP-G and T5-XXL (Text Encode gives all three the same text).",
    inputs=[
        Link("clip", CLIP, "SD3 text encoders (checkpoint or Load Text Encoders)."),
        String("clip_l", "", multiline=True, description="Prompt for CLIP-L."),
        String("clip_g", "", multiline=True, description="Prompt for CLIP-G."),
        String("t5xxl", "", multiline=True, description="Prompt for T5-XXL (up to 256 tokens)."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def text_encode_sd3(ctx: NodeContext, clip: TextEncoder, clip_l: str, clip_g: str,
                    t5xxl: str) -> Conditioning:
    from nodes._models import on_device
    from pipelines.text.sd3 import encode_sd3_prompts

    with on_device(ctx, clip):
        return encode_sd3_prompts(clip, clip_l, clip_g, t5xxl, device=ctx.device)
