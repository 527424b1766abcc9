"""GLIGEN: Load GLIGEN (a GLIGEN file's layers for an SD 1.x model) and GLIGEN Textbox Apply
(a phrase placed in a box, added to a conditioning), ComfyUI's GLIGENLoader and
GLIGENTextBoxApply. A GLIGEN checkpoint (a diffusers GLIGEN model, whose UNet has the layers)
needs no Load GLIGEN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Int, Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CLIP, CONDITIONING, GLIGEN
from nodes._models import model_fingerprint

if TYPE_CHECKING:
    from pipelines.loading.gligen import GligenWeights
    from pipelines.values import Conditioning, TextEncoder

_PIXELS = {"min": 8, "max": 16384, "step": 8}


@node(
    "loaders.gligen",
    title="Load GLIGEN",
    category="loaders",
    description="Load a GLIGEN file (gligen_sd14_textbox_pruned: a position net and gated "
    "self-attention layers) from the gligen folder; GLIGEN Textbox Apply gives an SD 1.x "
    "model these layers while it samples.",
    inputs=[String("gligen", "", kind="model:gligen",
                   description="GLIGEN file in the gligen folder, or a path.")],
    outputs=[Output("gligen", GLIGEN)],
    fingerprint=model_fingerprint("gligen", "gligen"),
)
def load_gligen(ctx: NodeContext, gligen: str) -> GligenWeights:
    from nodes._models import resolve_model
    from pipelines.loading.gligen import load_gligen as load

    return load(resolve_model(gligen, "gligen"))


@node(
    "conditioning.gligen_textbox",
    title="GLIGEN Textbox Apply",
    category="conditioning",
    description="Place a phrase in a box of the image: the GLIGEN model draws what the text "
    "says there. Chain nodes for more boxes (up to 30). Needs a GLIGEN model: a GLIGEN "
    "checkpoint, or Load GLIGEN's layers linked here.",
    inputs=[
        Link("conditioning", CONDITIONING, "The prompt's conditioning (the positive)."),
        Link("clip", CLIP, "The text encoder that embeds the phrase."),
        Link("gligen", GLIGEN, "Optional: a GLIGEN file's layers (not needed with a GLIGEN "
             "checkpoint).", optional=True),
        String("text", "", multiline=True, description="What goes in the box."),
        Int("width", 64, description="Box width in pixels.", **_PIXELS),
        Int("height", 64, description="Box height in pixels.", **_PIXELS),
        Int("x", 0, min=0, max=16384, step=8, description="Box left edge in pixels."),
        Int("y", 0, min=0, max=16384, step=8, description="Box top edge in pixels."),
        Float("steps", 1.0, min=0.0, max=1.0, step=0.05,
              description="Fraction of the steps the boxes act in (diffusers' scheduled "
              "sampling beta, 0.3 there; ComfyUI: all steps)."),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def gligen_textbox(ctx: NodeContext, conditioning: Conditioning, clip: TextEncoder,
                   gligen: GligenWeights | None, text: str, width: int, height: int, x: int,
                   y: int, steps: float) -> Conditioning:
    from nodes._models import on_device
    from pipelines.sampling.gligen import add_box, phrase_embedding

    with on_device(ctx, clip):
        phrase = phrase_embedding(clip, text, ctx.device)
    if gligen is not None and phrase.shape[-1] != gligen.context_dim:
        raise NodeInputError("clip", f"the text encoder's phrases are {phrase.shape[-1]} wide; "
                             f"the GLIGEN file takes {gligen.context_dim} (SD 1.x CLIP)")
    try:
        return add_box(conditioning, phrase, (x, y, width, height), steps, gligen)
    except ValueError as exc:
        raise NodeInputError("gligen", str(exc)) from None
