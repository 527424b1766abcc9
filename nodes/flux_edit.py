"""Flux.1 image editing nodes: Reference Latent (the image a Kontext model edits, appended to
a conditioning; ComfyUI's ReferenceLatent) and Flux Kontext Image Scale (the image resized to
a size Kontext was trained at; ComfyUI's FluxKontextImageScale). Flux Fill takes the latent of
Inpaint Model Conditioning (nodes/edit_conditioning.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Link, Output, node
from node_api.ports import CONDITIONING, IMAGE, LATENT

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, Latent


@node(
    "conditioning.reference_latent",
    title="Reference Latent",
    category="conditioning",
    description="Give an editing model (Flux Kontext) the image to edit: the latent is added "
    "to the conditioning as reference tokens the model attends to. Chain several for several "
    "references; without a latent the conditioning passes unchanged.",
    inputs=[Link("conditioning", CONDITIONING),
            Link("latent", LATENT, "The VAE-encoded image to edit.", optional=True)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def reference_latent(ctx: NodeContext, conditioning: Conditioning,
                     latent: Latent | None) -> Conditioning:
    from pipelines.families.flux_references import with_reference

    if latent is None:
        return conditioning
    return with_reference(conditioning, latent.samples)


@node(
    "image.flux_kontext_scale",
    title="Flux Kontext Image Scale",
    category="image",
    description="Resize an image (lanczos, centre crop) to the size Flux Kontext was trained "
    "at whose aspect ratio is nearest (about one megapixel).",
    inputs=[Link("image", IMAGE)],
    outputs=[Output("image", IMAGE)],
)
def flux_kontext_scale(ctx: NodeContext, image: Tensor) -> Tensor:
    from pipelines.kontext_sizes import kontext_scale

    return kontext_scale(image)
