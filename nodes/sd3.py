"""Stable Diffusion 3 / 3.5 nodes: a prompt per text encoder (ComfyUI's CLIPTextEncodeSD3) and the
flow time shift of any flow-matching model (ModelSamplingSD3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CLIP, CONDITIONING, MODEL

if TYPE_CHECKING:
    from pipelines.values import Conditioning, DiffusionModel, TextEncoder


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


@node(
    "model.sampling_sd3",
    title="Model Sampling (SD3)",
    category="sampling",
    description="Fix the time shift of a flow-matching model (SD3 / 3.5, Flux), as ComfyUI's "
    "ModelSamplingSD3: a larger shift spends more steps at high noise (composition), a "
    "smaller one on detail. SD3/3.5 ship with 3.0; Flux's own shift follows the image size.",
    inputs=[Link("model", MODEL),
            Float("shift", 3.0, min=0.01, max=100.0, step=0.01,
                  description="sigma' = shift * sigma / (1 + (shift - 1) * sigma).")],
    outputs=[Output("model", MODEL, "The same networks, sampled with this shift.")],
)
def model_sampling_sd3(ctx: NodeContext, model: DiffusionModel, shift: float) -> DiffusionModel:
    from pipelines.families import get_family
    from pipelines.sampling.flow_schedules import with_flow_shift

    if get_family(model.family).schedule != "flow":
        raise NodeInputError("model", f"{model.family} models are not sampled with flow "
                             "matching; the shift applies to SD3 / 3.5 and Flux models")
    return with_flow_shift(model, shift)
