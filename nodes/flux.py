"""Flux.1 nodes: the embedded guidance of dev models, a prompt encoder with separate CLIP-L and
T5 prompts, and the resolution-dependent shift (ComfyUI's FluxGuidance, CLIPTextEncodeFlux and
ModelSamplingFlux)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, String, node
from node_api.ports import CLIP, CONDITIONING, MODEL

if TYPE_CHECKING:
    from pipelines.values import Conditioning, DiffusionModel, TextEncoder


@node(
    "conditioning.flux_guidance",
    title="Flux Guidance",
    category="conditioning",
    description="The guidance value Flux dev embeds (it is distilled from CFG: keep cfg at 1 "
    "and set this instead). Ignored by schnell.",
    inputs=[Link("conditioning", CONDITIONING),
            Float("guidance", 3.5, min=0.0, max=100.0, step=0.1,
                  description="Embedded guidance; 3.5 is the usual default.")],
    outputs=[Output("conditioning", CONDITIONING)],
)
def flux_guidance(ctx: NodeContext, conditioning: Conditioning, guidance: float) -> Conditioning:
    from pipelines.text.flux import with_guidance

    return with_guidance(conditioning, guidance)


@node(
    "conditioning.text_encode_flux",
    title="Text Encode (Flux)",
    category="conditioning",
    description="Encode a prompt for Flux: CLIP-L and T5 may get different text; the guidance "
    "value is set on the conditioning as Flux Guidance does.",
    inputs=[Link("clip", CLIP, "CLIP-L + T5 from a Flux model or Load Text Encoders."),
            String("clip_l", "", multiline=True, description="Prompt for CLIP-L."),
            String("t5xxl", "", multiline=True, description="Prompt for T5."),
            Float("guidance", 3.5, min=0.0, max=100.0, step=0.1,
                  description="Embedded guidance (dev models).")],
    outputs=[Output("conditioning", CONDITIONING)],
)
def text_encode_flux(ctx: NodeContext, clip: TextEncoder, clip_l: str, t5xxl: str,
                     guidance: float) -> Conditioning:
    from nodes._models import on_device
    from pipelines.text.flux import encode_flux

    with on_device(ctx, clip):
        return encode_flux(clip, clip_l, ctx.device, t5_text=t5xxl, guidance=guidance)


@node(
    "model.sampling_flux",
    title="Model Sampling (Flux)",
    category="sampling",
    description="Fix Flux's time shift for a resolution, as ComfyUI's ModelSamplingFlux: the "
    "shift grows from base_shift at 256 tokens to max_shift at 4096 (a token is 16x16 "
    "pixels). Without this node the shift follows the latent's own size.",
    inputs=[Link("model", MODEL),
            Float("max_shift", 1.15, min=0.0, max=100.0, step=0.01),
            Float("base_shift", 0.5, min=0.0, max=100.0, step=0.01),
            Int("width", 1024, min=16, max=16384, step=8),
            Int("height", 1024, min=16, max=16384, step=8)],
    outputs=[Output("model", MODEL, "The same networks, sampled with this shift.")],
)
def model_sampling_flux(ctx: NodeContext, model: DiffusionModel, max_shift: float,
                        base_shift: float, width: int, height: int) -> DiffusionModel:
    from pipelines.families.flux import with_flux_shift

    return with_flux_shift(model, max_shift, base_shift, width, height)
