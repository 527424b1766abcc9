"""Style models: Load Style Model (Flux Redux) and Apply Style Model (an image's tokens
appended to a Flux conditioning), ComfyUI's StyleModelLoader and StyleModelApply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CONDITIONING, IMAGE_EMBEDDING, STYLE_MODEL
from nodes._models import load_float32, model_fingerprint

if TYPE_CHECKING:
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder

    from pipelines.values import Conditioning, ImageEmbedding

_STRENGTH_TYPES = ("multiply", "attn_bias")  # pipelines.sampling.style_model.STRENGTH_TYPES


@node(
    "loaders.style_model",
    title="Load Style Model",
    category="loaders",
    description="Load a style model from the style_models folder: Flux Redux "
    "(flux1-redux-dev.safetensors), which turns an image's SigLIP tokens into prompt tokens.",
    inputs=[String("style_model", "", kind="model:style_models",
                   description="Style model file in the style_models folder, or a path.")],
    outputs=[Output("style_model", STYLE_MODEL)],
    fingerprint=model_fingerprint("style_model", "style_models"),
)
def load_style_model(ctx: NodeContext, style_model: str) -> ReduxImageEncoder:
    from pipelines.loading.cached import load_style_model_cached

    return load_float32(ctx, load_style_model_cached, style_model, "style_models")


@node(
    "conditioning.style_model",
    title="Apply Style Model",
    category="conditioning",
    description="Append an image's style tokens (the style model applied to CLIP Vision "
    "Encode's output of a SigLIP encoder) to a Flux conditioning: the image steers like words.",
    inputs=[
        Link("conditioning", CONDITIONING),
        Link("style_model", STYLE_MODEL),
        Link("embedding", IMAGE_EMBEDDING, "CLIP Vision Encode's output (SigLIP for Redux)."),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.001,
              description="How strongly the image's tokens count."),
        Choice("strength_type", "multiply", choices=_STRENGTH_TYPES,
               description="multiply: scale the tokens; attn_bias: only at strength 1.0 here."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def apply_style_model(ctx: NodeContext, conditioning: Conditioning,
                      style_model: ReduxImageEncoder, embedding: ImageEmbedding,
                      strength: float, strength_type: str) -> Conditioning:
    from nodes._models import on_device
    from pipelines.sampling.style_model import apply_style

    hidden = getattr(embedding, "hidden", None)
    try:
        with on_device(ctx, style_model):
            return apply_style(conditioning, style_model, hidden, strength, strength_type)
    except ValueError as exc:
        field = "strength_type" if "attn_bias" in str(exc) else (
            "embedding" if "hidden" in str(exc) else "conditioning")
        raise NodeInputError(field, str(exc)) from None
