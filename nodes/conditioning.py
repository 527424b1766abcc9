"""Conditioning nodes: prompts to text embeddings."""

from __future__ import annotations

from app.engine.declaration import Link, Output, String, node
from app.engine.types import CLIP, CONDITIONING


@node(
    "conditioning.text_encode",
    title="Text Encode",
    category="conditioning",
    description="Encode a prompt with the text encoder; an empty prompt gives the "
    "unconditional embedding that classifier-free guidance needs as its negative.",
    inputs=[
        Link("clip", CLIP, "Text encoder from Load Checkpoint."),
        String("text", "", multiline=True, description="The prompt."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def text_encode(ctx, clip, text: str):
    from pipelines.conditioning import encode_text

    return encode_text(clip, text, device=ctx.device)
