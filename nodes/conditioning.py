"""Conditioning nodes: prompts to text embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Link, Output, String, node
from node_api.ports import CLIP, CONDITIONING

if TYPE_CHECKING:
    from pipelines.values import Conditioning, TextEncoder


def _embedding_files(values: dict[str, Any]) -> Any:
    """Cache-key material: the embedding files the prompt names and their mtimes, so editing
    one re-encodes the prompt."""
    from pipelines.loading.embeddings import fingerprint

    return fingerprint(values["text"])


@node(
    "conditioning.text_encode",
    title="Text Encode",
    category="conditioning",
    description="Encode a prompt with the text encoder; an empty prompt gives the "
    "unconditional embedding that classifier-free guidance needs as its negative. "
    "(word:1.3) weights words; embedding:name uses a textual-inversion embedding from the "
    "embeddings folder.",
    inputs=[
        Link("clip", CLIP, "Text encoder from Load Checkpoint."),
        String("text", "", multiline=True, description="The prompt."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
    fingerprint=_embedding_files,
)
def text_encode(ctx: NodeContext, clip: TextEncoder, text: str) -> Conditioning:
    from nodes._models import on_device
    from pipelines.text.conditioning import encode_text

    with on_device(ctx, clip):  # low-VRAM mode: the text encoders visit the GPU only now
        return encode_text(clip, text, device=ctx.device)
